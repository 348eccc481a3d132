"""The chip's f32 approximations of exp, log, tanh, logistic and erf (pjrt_plugin/kernels/
fast_math.h), in numpy float32 with the same operations in the same order, so they give the
kernels' exact bits (the runtime is built with -ffp-contract=off: no FMA contraction; numpy's
float32 arithmetic is IEEE single, round to nearest even).

Constant folding and the reference interpreter evaluate these instructions with them
(ew_semantics), so a folded constant is bit-identical to what an Elementwise kernel computes.
Keep this file in step with fast_math.h (tests/test_constant_folding_chip.py checks every
function against the chip on random and special inputs).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

F32 = np.float32


def _c(literal: str) -> np.float32:
    """The f32 a C++ literal `<literal>f` denotes: the decimal rounded once to the nearest f32
    (ties to even), not through a double."""
    exact = Fraction(literal)
    near = F32(float(exact))
    best = near
    for cand in (np.nextafter(near, F32(-np.inf)), np.nextafter(near, F32(np.inf))):
        d_best, d_cand = abs(Fraction(float(best)) - exact), abs(Fraction(float(cand)) - exact)
        if d_cand < d_best or (d_cand == d_best and int(cand.view(np.uint32)) % 2 == 0):
            best = cand
    return F32(best)


def _poly(x: np.ndarray, coeffs: list[str]) -> np.ndarray:
    """Horner's rule p = p * x + c, p starting at the first coefficient (all f32)."""
    p = np.full_like(x, _c(coeffs[0]))
    for c in coeffs[1:]:
        p = p * x + _c(c)
    return p


def _bits_to_f32(u: np.ndarray) -> np.ndarray:
    return np.asarray(u, dtype=np.uint32).view(F32)


def exp(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=F32)
    with np.errstate(all="ignore"):
        xc = np.where(x < F32(-104.0), F32(-104.0), np.where(x > F32(89.0), F32(89.0), x))
        t = xc * _c("1.44269504088896341") + F32(12582912.0)
        n = t - F32(12582912.0)
        r = xc - n * _c("0.693359375")
        r = r - n * _c("-2.12194440e-4")
        p = _poly(r, ["1.9875691500e-4", "1.3981999507e-3", "8.3334519073e-3",
                      "4.1665795894e-2", "1.6666665459e-1", "5.0000001201e-1"])
        p = p * (r * r) + r + F32(1.0)
        ni = np.where(np.isnan(n), 0, n).astype(np.int32)
        n1 = np.trunc(ni / 2).astype(np.int32)       # C integer division truncates
        n2 = ni - n1
        s1 = _bits_to_f32((n1 + 127).astype(np.uint32) << np.uint32(23))
        s2 = _bits_to_f32((n2 + 127).astype(np.uint32) << np.uint32(23))
        result = (p * s1) * s2
    return np.where(x != x, x, result).astype(F32)


def log(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=F32)
    with np.errstate(all="ignore"):
        subnormal = x < _c("1.17549435e-38")
        xs = np.where(subnormal, x * F32(8388608.0), x).astype(F32)
        bits = xs.view(np.uint32)
        e = ((bits >> np.uint32(23)) & np.uint32(0xFF)).astype(np.int32) - 126 \
            - np.where(subnormal, 23, 0).astype(np.int32)
        m = _bits_to_f32((bits & np.uint32(0x007FFFFF)) | np.uint32(0x3F000000))
        small = m < _c("0.707106781186547524")
        e = e - small.astype(np.int32)
        m = np.where(small, m + m, m) - F32(1.0)
        z = m * m
        y = _poly(m, ["7.0376836292e-2", "-1.1514610310e-1", "1.1676998740e-1",
                      "-1.2420140846e-1", "1.4249322787e-1", "-1.6668057665e-1",
                      "2.0000714765e-1", "-2.4999993993e-1", "3.3333331174e-1"])
        y = y * m * z
        fe = e.astype(F32)
        y = y + fe * _c("-2.12194440e-4")
        y = y - F32(0.5) * z
        r = m + y
        r = r + fe * _c("0.693359375")
        r = np.where(x == F32(np.inf), F32(np.inf), r)
        r = np.where(x == F32(0.0), F32(-np.inf), r)
        r = np.where((x < F32(0.0)) | (x != x), _bits_to_f32(np.uint32(0x7FC00000)), r)
    return np.asarray(r, dtype=F32)


def tanh(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=F32)
    with np.errstate(all="ignore"):
        ax = np.where(x < 0, -x, x)
        z = x * x
        p = _poly(z, ["-5.70498872745e-3", "2.06390887954e-2", "-5.37397155531e-2",
                      "1.33314422036e-1", "-3.33332819422e-1"])
        small = p * z * x + x
        e = exp(F32(2.0) * np.where(ax > F32(20.0), F32(20.0), ax))
        large = F32(1.0) - F32(2.0) / (e + F32(1.0))
        large = np.where(x < 0, -large, large)
        r = np.where(ax < _c("0.625"), small, large)
    return np.where(x != x, x, r).astype(F32)


def logistic(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=F32)
    with np.errstate(all="ignore"):
        ax = np.where(x < 0, -x, x)
        e = exp(-ax)
        pos = F32(1.0) / (F32(1.0) + e)
        r = np.where(x < 0, e / (F32(1.0) + e), pos)
    return np.where(x != x, x, r).astype(F32)


def erf(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=F32)
    with np.errstate(all="ignore"):
        ax = np.where(x < 0, -x, x)
        z = x * x
        s = _poly(z, ["7.853861353153693e-5", "-8.010193625184903e-4", "5.188327685732524e-3",
                      "-2.685381193529856e-2", "1.128358514861418e-1", "-3.761262582423300e-1",
                      "1.128379165726710e+0"])
        small = x * s
        t = ax - F32(1.5)
        m = _poly(t, ["-4.159397940e-05", "1.548232511e-03", "-2.376039047e-03",
                      "-4.705177620e-03", "1.932778955e-02", "-1.487016492e-02",
                      "-4.459894821e-02", "1.387521625e-01", "-1.783954352e-01",
                      "1.189302877e-01", "9.661051631e-01"])
        ac = np.where(ax < F32(2.0), F32(2.0), np.where(ax > F32(10.0), F32(10.0), ax))
        q = F32(1.0) / (ac * ac)
        p = _poly(q, ["-1.047766399936249e+1", "1.297719955372516e+1", "-7.495518717768503e+0",
                      "2.921019019210786e+0", "-1.015265279202700e+0", "4.218463358204948e-1",
                      "-2.820767439740514e-1", "5.641895067754075e-1"])
        tail = F32(1.0) - exp(-ac * ac) / ac * p
        r = np.where(ax < F32(1.0), small, np.where(ax < F32(2.0), m, tail))
        r = np.where((ax >= F32(1.0)) & (x < 0), -r, r)
    return np.where(x != x, x, r).astype(F32)
