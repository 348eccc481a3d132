"""Generated programs: a random input, then one to three ops from the catalog (ops.py), and the
check that runs one on the chip and on cpu and compares them under the numerics policy."""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Callable

import jax
import ml_dtypes
import numpy as np
from hypothesis import strategies as st

from .ops import MAKERS, BoundArgs, Step
from .values import ALL, Spec, is_complex, is_inexact, random_value, roundoff

MAX_STEPS = 3


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Program:
    input: Spec
    steps: tuple[Step, ...]
    data_seed: int

    @property
    def zero_size(self) -> bool:
        return self.input.size == 0 or any(s.out.size == 0 for s in self.steps)

    def __repr__(self) -> str:
        lines = [f"x = {self.input.describe()}  # data seed {self.data_seed}"]
        for s in self.steps:
            extras = ", ".join(e.describe() for e in s.extras)
            lines.append(f"x = {s.text}" + (f"  # fresh: {extras}" if extras else "")
                         + f"  -> {s.out.describe()}")
        return "\n".join(lines)

    def inputs(self) -> list[np.ndarray]:
        rng = np.random.default_rng(self.data_seed)
        values = [random_value(rng, self.input)]
        for s in self.steps:
            values += [random_value(rng, e) for e in s.extras]
        return values

    def function(self) -> Callable[..., Any]:
        def f(x: Any, *extras: Any) -> Any:
            i = 0
            for s in self.steps:
                x = s.fn(x, *extras[i:i + len(s.extras)])
                i += len(s.extras)
            return x
        return f


def _with_output(s: Step, x: Spec) -> Step | None:
    args = [jax.ShapeDtypeStruct(x.shape, x.dtype)]
    args += [jax.ShapeDtypeStruct(e.shape, e.dtype) for e in s.extras]
    try:
        out = jax.eval_shape(s.fn, *args)
    except Exception:   # noqa: BLE001 - TypeError, ValueError, NotImplementedError (signbit of
        # fp8), OverflowError (jnp.max of int4: its init value): the op does not apply in jax
        return None
    if not isinstance(out, jax.ShapeDtypeStruct) or np.dtype(out.dtype) not in ALL:
        return None
    return dataclasses.replace(s, out=Spec(tuple(out.shape), np.dtype(out.dtype), s.same_bits,
                                           s.wrapped_square))


@st.composite
def programs(draw: Callable[[st.SearchStrategy[Any]], Any]) -> Program:
    rank = draw(st.integers(0, 3))
    dims = [draw(st.integers(1, 7)) for _ in range(rank)]
    if draw(st.integers(0, 4)) == 0:           # a fifth of the programs start zero-size
        dims = dims or [1]
        dims[draw(st.integers(0, len(dims) - 1))] = 0
    spec = Spec(tuple(dims), np.dtype(draw(st.sampled_from(ALL))))
    first = spec
    steps: list[Step] = []
    for _ in range(draw(st.integers(1, MAX_STEPS))):
        for _attempt in range(8):
            made = MAKERS[draw(st.sampled_from(sorted(MAKERS)))](draw, spec)
            made = made and _with_output(made, spec)
            if made is not None:
                break
        if made is None:
            break
        steps.append(made)
        spec = made.out
    return Program(first, tuple(steps), draw(st.integers(0, 2 ** 32 - 1)))


# ---- the check ----------------------------------------------------------------------------

# The documented limits of fp8 and int4 (docs/ops.md, "fp8 / int4" column; docs/numerics.md): ops
# that compute on them outside that list are rejected with UNIMPLEMENTED naming the op and type.
_LOW_PRECISION_LIMIT = re.compile(r"UNIMPLEMENTED: .*?(\S+) (on|producing) (f8\w+|s4|u4) is not supported")


def low_precision_limit(error: str) -> str | None:
    """'op on type' if `error` is the clear rejection of a documented fp8/int4 limit, else None."""
    m = _LOW_PRECISION_LIMIT.search(error)
    return f"{m.group(1)} {m.group(2)} {m.group(3)}" if m else None


@dataclasses.dataclass(frozen=True)
class Outcome:
    # "ok", "unsupported" (a documented fp8/int4 limit, clearly rejected), "mismatch",
    # "internal" (compiler error), "rejected", "crash"; "invalid": jax cannot run it on cpu
    # either (the test discards it and draws another)
    kind: str
    program: Program
    detail: str = ""


def _run(f: Callable[..., Any], device: jax.Device, inputs: list[np.ndarray]) -> np.ndarray:
    placed = [jax.device_put(v, device) for v in inputs]
    with jax.default_device(device):   # a program that ignores its inputs runs there too
        return np.asarray(jax.device_get(jax.jit(f)(*placed)))


def _intermediates(program: Program, inputs: list[np.ndarray], cpu: jax.Device) -> list[np.ndarray]:
    """Every step's value on cpu, from one jitted program."""
    def f(x: Any, *extras: Any) -> list[Any]:
        values, i = [], 0
        for s in program.steps:
            x = s.fn(x, *extras[i:i + len(s.extras)])
            i += len(s.extras)
            values.append(x)
        return values
    placed = [jax.device_put(v, cpu) for v in inputs]
    with jax.default_device(cpu):
        return [np.asarray(v) for v in jax.device_get(jax.jit(f)(*placed))]


def error_bound(program: Program, inputs: list[np.ndarray], cpu: jax.Device) -> np.ndarray:
    """The final value's error bound, stepping through the program's values on cpu (values.py)."""
    x, e = inputs[0], np.zeros(inputs[0].shape, np.float64)
    i = 1
    for s, out in zip(program.steps, _intermediates(program, inputs, cpu)):
        extras = inputs[i:i + len(s.extras)]
        i += len(s.extras)

        def move(bound: np.ndarray, s: Step = s, extras: list[np.ndarray] = extras,
                 shape: tuple[int, ...] = out.shape) -> np.ndarray:
            # the step's own data movement applied to the bound (zero for fresh data operands);
            # subtracting the movement of zeros cancels constants it inserts (pad values)
            if not bound.any():
                return np.zeros(shape, np.float64)

            def moved_of(b: np.ndarray) -> np.ndarray:
                args = [b.astype(np.float32)] + [np.zeros(v.shape, np.float32) if data else v
                                                 for v, data in zip(extras, s.extras_are_data)]
                return _run(s.fn, cpu, args).astype(np.float64)
            return np.abs(moved_of(bound) - moved_of(np.zeros_like(bound)))

        if is_inexact(s.out.dtype):
            with np.errstate(all="ignore"):
                e = np.broadcast_to(s.bound(BoundArgs(x, e, tuple(extras), out, move)),
                                    out.shape).astype(np.float64)
        else:
            e = np.zeros(out.shape, np.float64)
        x = out
    return e


def compare(got: np.ndarray, want: np.ndarray, bound: np.ndarray) -> str:
    """'' if the chip's result `got` agrees with cpu's `want`, else what differs."""
    if got.dtype != want.dtype or got.shape != want.shape:
        return f"result {got.dtype}{list(got.shape)}, cpu gives {want.dtype}{list(want.shape)}"
    if not is_inexact(got.dtype):
        bad = np.flatnonzero(got.reshape(-1) != want.reshape(-1))
        if bad.size:
            k = int(bad[0])
            return (f"{bad.size} of {got.size} elements differ (must be bit-exact): at flat index "
                    f"{k} chip {got.reshape(-1)[k]} cpu {want.reshape(-1)[k]}")
        return ""
    wide = np.complex128 if is_complex(got.dtype) else np.float64
    g, w = got.astype(wide).reshape(-1), want.astype(wide).reshape(-1)
    b = bound.reshape(-1)
    same_special = (np.isnan(g) == np.isnan(w)) & (np.isinf(g) == np.isinf(w))
    same_special &= ~np.isinf(w) | (g == w)
    tiny = float(ml_dtypes.finfo(np.float32 if is_complex(got.dtype) else got.dtype).tiny) * 2
    finite = np.isfinite(g) & np.isfinite(w) & np.isfinite(b)
    with np.errstate(all="ignore"):
        within = ~finite | (np.abs(g - w) <= 2 * b + tiny)
    bad = np.flatnonzero(~(same_special & within))
    if bad.size:
        k = int(bad[0])
        return (f"{bad.size} of {got.size} elements outside the bound: at flat index {k} chip "
                f"{g[k]!r} cpu {w[k]!r} bound 2 x {b[k]:.3g} (u = {roundoff(got.dtype):.3g})")
    return ""


def check(program: Program, chip: jax.Device, cpu: jax.Device) -> Outcome:
    inputs = program.inputs()
    f = program.function()
    try:
        want = _run(f, cpu, inputs)
    except Exception as err:   # noqa: BLE001 - jax itself cannot lower or run it
        # e.g. argmin of complex values, or abs of int4 (jax types it int8, then fails to lower):
        # not a program jax runs, so nothing to compare
        return Outcome("invalid", program, f"{type(err).__name__} on cpu: {err}")
    try:
        got = _run(f, chip, inputs)
    except Exception as err:   # noqa: BLE001 - every failure is classified and reported
        text = f"{type(err).__name__}: {err}"
        if "INTERNAL" in text or "internal compiler error" in text:
            return Outcome("internal", program, text)
        if type(err).__name__ in ("XlaRuntimeError", "JaxRuntimeError"):
            kind = "unsupported" if low_precision_limit(text) else "rejected"
            return Outcome(kind, program, text)
        return Outcome("crash", program, text)
    try:
        bound = error_bound(program, inputs, cpu)
    except Exception as err:   # noqa: BLE001 - a step jax cannot run on cpu on its own
        # (argmin of complex values traces only when its result is used)
        return Outcome("invalid", program, f"{type(err).__name__} on cpu: {err}")
    detail = compare(got, want, bound)
    return Outcome("mismatch" if detail else "ok", program, detail)
