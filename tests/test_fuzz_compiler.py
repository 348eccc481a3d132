"""A fixed budget of the compiler fuzzer (tools/fuzz_compiler.py): 200 mutated StableHLO modules
through PJRT_Client_Compile in a worker process. No internal compiler error, crash or hang;
every failure is a clean error. The 10,000-mutant run is the tool's (docs/compiler.md)."""

from __future__ import annotations

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tools"))
import fuzz_compiler  # noqa: E402


def test_mutants_compile_or_fail_cleanly(tmp_path):
    # 120 s per compile: generous on a loaded 2-core host; a real hang never answers.
    report = fuzz_compiler.fuzz(budget=200, seed=11, timeout=120, out=tmp_path, log=lambda _: None)
    assert sum(report.counts.values()) == 200
    assert not report.bad, "\n".join(f"{b['outcome']} ({b['program']}, {b['mutations']}): {b['message'][:500]}"
                                     for b in report.bad[:5])
    # The mutants reach the chip's compiler (not only jaxlib's parser), both ways.
    assert report.counts["compiled"] >= 20 and report.counts["rejected"] >= 10, report.counts


def test_an_internal_error_is_not_a_clean_rejection():
    assert fuzz_compiler.classify("INTERNAL: PJRT_Compile: internal compiler error: KeyError: 'x'") == "internal"
    assert fuzz_compiler.classify("INVALID_ARGUMENT: PJRT_Compile: f64 tensor<4xf64> of parameter 0") == "rejected"
    assert fuzz_compiler.classify("UNKNOWN: -:2:105: error: expected '}' in attribute dictionary") == "parse"


def test_a_jaxlib_parser_hang_is_told_apart_from_a_chip_hang():
    """A mutant jaxlib's own MLIR parser never finishes (a convolution spatial index of 2^31) is
    'parse-hang', not the chip compiler's 'hang'; the worker is replaced and serves the next."""
    text = (pathlib.Path(__file__).parent / "fuzz" / "jaxlib_parser_hang.mlir").read_text()
    worker = fuzz_compiler.Worker()
    try:
        assert worker.run(0, "module {}", timeout=60)[0] == "rejected"   # started and warm
        assert worker.run(1, text, timeout=5)[0] == "parse-hang"
        outcome, message = worker.run(2, text.replace("2147483648", "1"), timeout=60)
        assert outcome == "rejected" and "num_replicas=8" in message, message
    finally:
        worker.close()


def test_mutants_that_found_bugs_now_fail_cleanly():
    """Mutants kept from past runs (tests/fuzz/, but the jaxlib parser hang): each compiles or is
    rejected with a clean error. sort_s32_keys_float_compare: a sort comparator comparing s32 keys
    with compare type FLOAT/TOTALORDER (the StableHLO verifier lets it through) reached the
    runtime as an executable it refused (INTERNAL)."""
    worker = fuzz_compiler.Worker()
    try:
        cases = sorted(p for p in (pathlib.Path(__file__).parent / "fuzz").glob("*.mlir")
                       if p.name != "jaxlib_parser_hang.mlir")
        assert cases
        for i, case in enumerate(cases):
            outcome, message = worker.run(i, case.read_text(), timeout=60)
            assert outcome in ("compiled", "rejected"), f"{case.name}: {outcome}: {message[:500]}"
            if case.name.startswith("sort_s32"):
                assert "compare type" in message and "s32" in message, message
    finally:
        worker.close()
