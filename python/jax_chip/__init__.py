"""JAX on the chip. `import jax_chip` is optional: JAX finds the plugin by its entry point."""
