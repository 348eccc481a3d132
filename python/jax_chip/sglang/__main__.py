"""Run one of sglang-jax's command-line entry points with jax_chip.sglang's patches applied.

    python -m jax_chip.sglang launch_server --model-path DIR --page-size 16 ...
    python -m jax_chip.sglang bench_offline_throughput --model-path DIR ...
    python -m jax_chip.sglang bench_one_batch --model-path DIR --device chip ...

The first argument names a module of the sgl_jax package that has a main() or is run as
__main__ (or bench_one_batch, which sglang-jax 0.0.1.post1 ships unrunnable: our own
jax_chip.sglang.bench_one_batch runs instead); the rest are its own arguments.
"""

from __future__ import annotations

import runpy
import sys

import jax_chip.sglang as integration

ENTRY_POINTS = ("launch_server", "bench_offline_throughput", "bench_serving",
                "bench_one_batch_server", "bench_one_batch")
# Entry points whose sgl_jax module cannot run, replaced by a module of ours.
OWN_MODULES = {"bench_one_batch": "jax_chip.sglang.bench_one_batch"}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ENTRY_POINTS:
        print(f"usage: python -m jax_chip.sglang {{{'|'.join(ENTRY_POINTS)}}} ARGS...",
              file=sys.stderr)
        return 2
    integration.apply()
    module = OWN_MODULES.get(argv[0], f"sgl_jax.{argv[0]}")
    sys.argv = [module] + argv[1:]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
