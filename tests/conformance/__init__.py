"""The property-based conformance suite: generated jax.numpy/lax programs, chip against cpu."""
