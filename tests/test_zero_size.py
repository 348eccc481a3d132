"""Zero-size arrays through the compiler: programs whose constant folding produced a splat for a
zero-size shape (remainder, nextafter, spacing, integer sinh/cosh/arcsinh/arccosh, outer, isreal)
raised an internal compiler error ("cannot reshape array of size 1 into shape (0,4)"). Each runs
on the chip and on cpu with the same zero-size (and, for the values, 0-d and small) inputs."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from parity import check_parity

CASES = {
    "remainder": lambda x: jnp.remainder(x, 3.0),
    "mod_int": lambda x: jnp.mod(x.astype(jnp.int32), 3),
    "nextafter": lambda x: jnp.nextafter(x, 1.0),
    "spacing": lambda x: jnp.spacing(x),
    "sinh_int": lambda x: jnp.sinh(x.astype(jnp.int32)),
    "cosh_int": lambda x: jnp.cosh(x.astype(jnp.int32)),
    "arcsinh_int": lambda x: jnp.arcsinh(x.astype(jnp.int32)),
    "arccosh_int": lambda x: jnp.arccosh(x.astype(jnp.int32)),
    "outer": lambda x: jnp.outer(x, x),
    "isreal": lambda x: jnp.isreal(x),
    "full_like": lambda x: x + jnp.full(x.shape, 2.0),
}
RNG = np.random.default_rng(5)


@pytest.mark.parametrize("shape", [(0,), (0, 4), (3, 0), (2, 0, 5)])
@pytest.mark.parametrize("name", sorted(CASES))
def test_zero_size_compiles_and_matches_cpu(name, shape):
    got = check_parity(CASES[name], RNG.uniform(1, 3, shape).astype(np.float32), what=name)
    assert np.asarray(got).size == 0


@pytest.mark.parametrize("shape", [(), (5,)])
@pytest.mark.parametrize("name", sorted(CASES))
def test_same_programs_with_elements_match_cpu(name, shape):
    check_parity(CASES[name], RNG.uniform(1, 3, shape).astype(np.float32), what=name)
