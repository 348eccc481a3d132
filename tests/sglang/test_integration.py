"""jax_chip.sglang's application of its patches and what individual patches do, without
starting an Engine (the mechanism and the pins: test_patches.py).

Runs in the project venv, which has sglang-jax 0.0.1.post1 (conftest.py); JAX on cpu.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pathlib
import pickle
import sys
from typing import Any, Dict, Iterator, List

os.environ.setdefault("JAX_PLATFORMS", "cpu")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "python"))

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

import jax_chip.sglang as integration  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def applied():
    with jax.default_device(jax.devices("cpu")[0]):
        yield integration.apply()


def test_apply_is_idempotent_and_exports_the_choice() -> None:
    first = integration.applied()
    assert set(first) == set(integration.PATCHES)
    assert integration.apply() == first
    assert os.environ[integration.ENV].split(",") == list(integration.PATCHES)


@pytest.mark.parametrize("argv,want", [
    (["python", "-m", "sgl_jax.bench_serving", "--port", "1"], "sgl_jax.bench_serving"),
    (["python", "-X", "dev", "-msgl_jax.launch_server"], "sgl_jax.launch_server"),
    (["python", "-m", "jax_chip.sglang", "bench_one_batch_server", "--x"], "sgl_jax.bench_one_batch_server"),
    (["python", "script.py", "-m", "sgl_jax.bench_serving"], None),
    (["python", "-c", "import sgl_jax"], None),
])
def test_main_module_names_what_python_m_runs(monkeypatch, argv, want) -> None:
    """A patch of the module `python -m` runs as __main__ is left out in that process."""
    monkeypatch.setattr(sys, "orig_argv", argv)
    assert integration.main_module() == want


def test_unknown_patch_is_rejected_by_name() -> None:
    with pytest.raises(ValueError, match=r"unknown patch\(es\) \['no_such_patch'\]"):
        integration.apply(["kv_write", "no_such_patch"])


def test_scheduler_target_is_the_bootstrap() -> None:
    """Spawn pickles the target by reference: the child must import jax_chip.sglang.bootstrap,
    whose import applies the fixes there."""
    from sgl_jax.srt.entrypoints import engine

    from jax_chip.sglang import bootstrap

    assert engine.run_scheduler_process is bootstrap.run_scheduler_process
    assert b"jax_chip.sglang.bootstrap" in pickle.dumps(engine.run_scheduler_process)


def test_patched_kv_write_drops_padding() -> None:
    from sgl_jax.srt.mem_cache import memory_pool

    rng = np.random.default_rng(0)
    pool = jnp.asarray(rng.standard_normal((33, 2, 128)), jnp.float32)
    new = jnp.asarray(rng.standard_normal((4, 2, 128)), jnp.float32)
    loc = jnp.array([5, -1, 32, -1], jnp.int32)
    k, v = memory_pool.update_kv_cache(new, new * 2, loc, pool, pool, page_size=16)
    want = np.asarray(pool).copy()
    want[5], want[32] = np.asarray(new)[0], np.asarray(new)[2]
    np.testing.assert_array_equal(np.asarray(k), want)
    assert float(jnp.abs(v[31] - pool[31]).max()) == 0.0  # -1 did not wrap to a real row


def test_paged_allocator_counts_released_pages_as_free() -> None:
    from sgl_jax.srt.mem_cache.allocator import PagedTokenToKVPoolAllocator

    alloc = PagedTokenToKVPoolAllocator(size=128, page_size=16, dtype=jnp.float32, kvcache=None)
    assert alloc.available_size() == 128
    slots = alloc.alloc(48)
    assert alloc.available_size() == 80
    alloc.free(slots[:20])  # two pages (the second partially named) go to release_pages
    assert len(alloc.release_pages) == 2
    assert alloc.available_size() == 112


def test_backend_page_table_from_forward_batch() -> None:
    from types import SimpleNamespace

    from sgl_jax.srt.model_executor.model_runner import ModelRunner

    from jax_chip.sglang.backend import table_width

    runner = SimpleNamespace(
        server_args=SimpleNamespace(attention_backend="native"), num_attn_heads=4, tp_size=1,
        page_size=16, mesh=None,
        model_config=SimpleNamespace(get_num_kv_heads_with_padding=lambda tp: 2))
    backend = ModelRunner._get_attention_backend(runner)
    assert type(backend).__name__ == "PagedAttentionBackend"
    # Two requests of 20 and 3 tokens, page-aligned in cache_loc as sglang-jax builds it.
    cache_loc = np.zeros(256, np.int32)
    cache_loc[:20] = np.concatenate([np.arange(48, 64), np.arange(96, 100)])
    cache_loc[32:35] = np.arange(16, 19)
    batch = SimpleNamespace(seq_lens=jnp.array([20, 3, 0, 0]), cache_loc=jnp.asarray(cache_loc))
    backend.init_forward_metadata(batch)
    table = np.asarray(backend.page_table)
    assert table.shape == (4, table_width(20, 16)) == (4, 4)
    np.testing.assert_array_equal(table[:, :2], [[3, 6], [1, 0], [0, 0], [0, 0]])
    leaves, treedef = jax.tree_util.tree_flatten(backend)
    assert len(leaves) == 1
    again = jax.tree_util.tree_unflatten(treedef, leaves)
    assert (again.num_heads, again.num_kv_heads, again.page_size) == (4, 2, 16)


def test_qwen3_rope_is_neox() -> None:
    from flax import nnx
    from sgl_jax.srt.models import qwen3

    attn = qwen3.QWen3Attention(hidden_size=64, num_heads=2, num_kv_heads=1,
                                max_position_embeddings=64, head_dim=128, rms_norm_eps=1e-6,
                                dtype=jnp.float32, rngs=nnx.Rngs(0))
    assert attn.rotary_emb.is_neox_style is True


def test_last_loc_is_one_jitted_program_equal_to_the_eager_one() -> None:
    """jit_last_loc: same values as sglang-jax's eager function, as a single program."""
    from sgl_jax.srt.managers import schedule_batch

    patched = schedule_batch.get_last_loc_jax
    eager = patched.__wrapped__
    rng = np.random.default_rng(5)
    req_to_token = jnp.asarray(rng.integers(0, 5000, (8, 64), dtype=np.int32))
    pools = jnp.asarray(rng.permutation(8)[:5].astype(np.int32))
    prefix = jnp.asarray(np.array([0, 1, 17, 64, 3], np.int32))
    np.testing.assert_array_equal(schedule_batch.get_last_loc(req_to_token, pools, prefix),
                                  eager(req_to_token, pools, prefix))
    text = patched.lower(req_to_token, pools, prefix).as_text()
    assert text.count("func.func public @main") == 1 and "stablehlo.gather" in text


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_logits_are_one_jitted_matmul_equal_to_the_eager_one(dtype) -> None:
    """jit_logits: the lm_head logits equal sglang-jax's eager _get_logits, computed by one
    program whose matmul contracts the embedding directly (no transpose copy of the table)."""
    from flax import nnx
    from sgl_jax.srt.layers.embeddings import ParallelLMHead
    from sgl_jax.srt.layers.logits_processor import LogitsProcessor

    head = ParallelLMHead(num_embeddings=96, features=32, dtype=dtype, param_dtype=dtype,
                          rngs=nnx.Rngs(0))
    proc = LogitsProcessor(vocab_size=90)
    hidden = jnp.asarray(np.random.default_rng(2).standard_normal((5, 32)), dtype)
    got = proc._get_logits(hidden, head, None)
    want = LogitsProcessor._get_logits.__wrapped__(proc, hidden, head, None)
    assert got.shape == want.shape == (5, 90) and got.dtype == want.dtype
    np.testing.assert_array_equal(np.asarray(got, np.float32), np.asarray(want, np.float32))


@contextlib.contextmanager
def programs_compiled() -> Iterator[List[str]]:
    """The names of the programs jax compiles inside the block (its JAX_LOG_COMPILES log)."""
    names: List[str] = []

    class Handler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            msg = record.getMessage()
            if msg.startswith("Compiling "):
                names.append(msg.split()[1])

    handler = Handler(logging.WARNING)
    log = logging.getLogger("jax._src.interpreters.pxla")
    log.addHandler(handler)
    try:
        with jax.log_compiles(True):
            yield names
    finally:
        log.removeHandler(handler)


def test_req_to_token_table_is_on_the_host_and_equal_to_the_eager_one() -> None:
    """req_to_token_on_host and its write, free, read and clear patches: the same table as
    sglang-jax's eager device writes and frees, for the three forms the scheduler uses, with no
    program compiled; what is read (slots, rows, last slots) is a copy, as the jax array's was,
    that later writes and frees leave alone."""
    from jax.sharding import Mesh
    from sgl_jax.srt.managers import schedule_batch
    from sgl_jax.srt.mem_cache.memory_pool import ReqToTokenPool

    from jax_chip.sglang.patches.performance import HostTable

    mesh = Mesh(np.array(jax.devices("cpu")[:1]), ("tensor",))
    host = ReqToTokenPool(size=6, max_context_len=40, mesh=mesh)
    eager = object.__new__(ReqToTokenPool)
    ReqToTokenPool.__init__.__wrapped__(eager, size=6, max_context_len=40, mesh=mesh)
    assert isinstance(host.req_to_token, HostTable)
    assert isinstance(eager.req_to_token, jax.Array)
    write, free = ReqToTokenPool.write.__wrapped__, ReqToTokenPool.free.__wrapped__
    rng = np.random.default_rng(11)
    ops = []
    for _ in range(12):
        row, start = int(rng.integers(0, 6)), int(rng.integers(0, 30))
        stop = int(rng.integers(start, 41))
        ops.append(("range", (row, slice(start, stop)),
                    jnp.asarray(rng.integers(1, 9999, stop - start), jnp.int32)))
    rows = jnp.asarray(rng.permutation(6)[:4].astype(np.int32))
    ops.append(("points", (rows, jnp.asarray(rng.integers(0, 40, 4).astype(np.int32))),
                jnp.asarray(rng.integers(1, 9999, 4), jnp.int32)))
    ops += [("free", 2, None), ("free", [0, 5], None)]
    snapshots = []
    with programs_compiled() as names:
        kept = [(r, host.read(r, 30), host.req_to_token[r, :30]) for r in range(6)]
        for kind, idx, vals in ops:
            host.free(idx) if kind == "free" else host.write(idx, vals)
            snapshots.append(np.array(host.req_to_token))
        pools, prefix = np.array([1, 3, 4], np.int32), np.array([0, 7, 30], np.int32)
        last = schedule_batch.get_last_loc(host.req_to_token, pools, prefix)
    assert names == [], names
    for (kind, idx, vals), snapshot in zip(ops, snapshots):
        free(eager, idx) if kind == "free" else write(eager, idx, vals)
        np.testing.assert_array_equal(snapshot, eager.req_to_token, err_msg=kind)
    np.testing.assert_array_equal(last, schedule_batch.get_last_loc_jax.__wrapped__(
        eager.req_to_token, jnp.asarray(pools), jnp.asarray(prefix)))
    assert host.free_slots == eager.free_slots
    for r, slots, row in kept:       # read before the writes: unchanged by them
        assert isinstance(slots, jax.Array) and not np.any(np.asarray(slots))
        assert not np.any(row)
    got = host.read(3, 40)
    np.testing.assert_array_equal(got, ReqToTokenPool.read.__wrapped__(eager, 3, 40))
    host.req_to_token[1] = 7                  # item assignment writes the table itself
    host.req_to_token[2, 3:5] = 9
    assert host.req_to_token[1].tolist() == [7] * 40
    assert host.req_to_token[2, 3:5].tolist() == [9, 9]
    host.clear()
    assert isinstance(host.req_to_token, HostTable) and not host.req_to_token.any()


class _Req:
    def __init__(self, done: bool) -> None:
        self.done = done
        self.stream = self.return_logprob = False

    def finished(self) -> bool:
        return self.done


def _fake_batch(rng: np.random.Generator, n: int, mesh: Any) -> Any:
    """What ScheduleBatch.merge_batch / filter_batch read of a batch of n requests: device
    index arrays, as the scheduler makes them."""
    from types import SimpleNamespace

    from sgl_jax.srt.sampling.sampling_batch_info import SamplingBatchInfo

    dev = jax.devices("cpu")[0]
    put = lambda a: jax.device_put(a, dev)  # noqa: E731
    sampling = SamplingBatchInfo(
        temperatures=put(rng.random((n, 1), np.float32)), top_ps=put(rng.random(n, np.float32)),
        top_ks=put(rng.integers(1, 50, n).astype(np.int32)),
        min_ps=put(rng.random(n, np.float32)), is_all_greedy=bool(rng.integers(2)))
    return SimpleNamespace(
        reqs=[_Req(bool(rng.integers(2))) for _ in range(n)], mesh=mesh,
        req_pool_indices=put(rng.permutation(64)[:n].astype(np.int32)),
        seq_lens=put(rng.integers(1, 99, n).astype(np.int32)),
        output_ids=put(rng.integers(0, 500, n).astype(np.int32)), out_cache_loc=None,
        seq_lens_sum=0, return_logprob=False, has_stream=False, return_hidden_states=False,
        top_logprobs_nums=None, token_ids_logprobs=None, sampling_info=sampling)


def _batch_state(b: Any) -> Dict[str, Any]:
    s = b.sampling_info
    return {"reqs": list(b.reqs), "seq_lens_sum": int(b.seq_lens_sum),
            **{k: np.asarray(getattr(b, k)).tolist()
               for k in ("req_pool_indices", "seq_lens", "output_ids")},
            **{k: np.asarray(getattr(s, k)).tolist()
               for k in ("temperatures", "top_ps", "top_ks", "min_ps")},
            "greedy": s.is_all_greedy}


def test_batch_merge_and_filter_run_on_the_host() -> None:
    """batch_merge_on_host, sampling_merge_on_host, batch_filter_on_host: merging batches of
    every pair of sizes and dropping their finished requests give what sglang-jax's jnp versions
    give, and compile no program (sglang-jax's compiled one per pair of sizes)."""
    import copy

    from jax.sharding import Mesh
    from sgl_jax.srt.managers.schedule_batch import ScheduleBatch
    from sgl_jax.srt.sampling.sampling_batch_info import SamplingBatchInfo

    mesh = Mesh(np.array(jax.devices("cpu")[:1]), ("data",))
    merge, filt = ScheduleBatch.merge_batch, ScheduleBatch.filter_batch
    up_merge, up_filter = merge.__wrapped__, filt.__wrapped__
    up_sampling_merge = SamplingBatchInfo.merge_batch.__wrapped__
    rng = np.random.default_rng(7)
    seen = 0
    for a, b in [(1, 1), (1, 3), (4, 2), (5, 5), (7, 1), (2, 6)]:
        x, y = _fake_batch(rng, a, mesh), _fake_batch(rng, b, mesh)
        x.seq_lens_sum, y.seq_lens_sum = int(np.sum(x.seq_lens)), int(np.sum(y.seq_lens))
        ux, uy = copy.copy(x), copy.copy(y)
        ux.sampling_info, uy.sampling_info = copy.copy(x.sampling_info), y.sampling_info
        ux.reqs = list(x.reqs)
        with programs_compiled() as names:
            merge(x, y)
            filt(x)
        # upstream's, with its own sampling merge (the class now holds the patched one)
        up_sampling_merge(ux.sampling_info, uy.sampling_info, mesh)
        ux.sampling_info.merge_batch = lambda *args: None
        up_merge(ux, uy)
        del ux.sampling_info.merge_batch
        up_filter(ux)
        assert _batch_state(x) == _batch_state(ux), (a, b)
        assert names == [], (a, b, names)
        seen += len(x.reqs)
    assert seen > 0


def test_uploads_of_host_arrays_compile_no_program() -> None:
    """uploads_without_programs: jnp.array of host data already in its dtype gives the same
    arrays as jax's convert_element_type program (values, dtype, device, weak type, a
    copy of the input) without compiling one per shape; conversions, traced values and explicit
    shardings take jax's own path."""
    rng = np.random.default_rng(13)
    cpu = jax.devices("cpu")[0]
    with programs_compiled() as names:
        for n in range(1, 40):
            ids = rng.integers(0, 500, n).tolist()
            got = jnp.array(ids, dtype=jnp.int32)
            host = rng.standard_normal(n).astype(np.float32)
            got_f = jnp.array(host)
            host[0] = np.float32(1e9)      # jnp.array copies: the input may change afterwards
            assert got.dtype == jnp.int32 and got.tolist() == ids and not got.weak_type
            assert got_f.dtype == jnp.float32 and np.asarray(got_f)[0] != np.float32(1e9)
            assert got.devices() == {cpu} and got_f.devices() == {cpu}
    assert names.count("convert_element_type") == 0, names
    original = jax._src.lax.lax._convert_element_type.__wrapped__
    x = np.arange(6, dtype=np.int32)
    np.testing.assert_array_equal(jnp.array(x), original(x, jnp.int32))
    # a real conversion is jax's program, as before
    f = jnp.array(np.array([1.5, -2.5]), dtype=jnp.int32)
    np.testing.assert_array_equal(f, original(np.array([1.5, -2.5]), jnp.int32))
    # under a trace the upload stays a traced op of the program
    text = jax.jit(lambda y: y + jnp.array(np.arange(3, dtype=np.int32))).lower(
        np.zeros(3, np.int32)).as_text()
    assert "stablehlo.add" in text


def test_decode_step_bookkeeping_runs_on_the_host() -> None:
    """batch_decode_on_host: prepare_for_decode gives what sglang-jax's gives (lengths, the new
    tokens' slots, the slot table) for batches of every size, page sizes 1 and 16, and compiles
    no program (sglang-jax's compiled two per batch size)."""
    import copy
    from types import SimpleNamespace

    from jax.sharding import Mesh
    from sgl_jax.srt.managers.schedule_batch import ScheduleBatch
    from sgl_jax.srt.mem_cache.memory_pool import ReqToTokenPool

    mesh = Mesh(np.array(jax.devices("cpu")[:1]), ("tensor",))
    upstream = ScheduleBatch.prepare_for_decode.__wrapped__
    rng = np.random.default_rng(17)
    for page in (1, 16):
        for bs in (1, 3, 6):
            pool = ReqToTokenPool(size=8, max_context_len=64, mesh=mesh)
            rows = rng.permutation(8)[:bs].astype(np.int32)
            lens = rng.integers(2, 60, bs).astype(np.int32)
            for r, n in zip(rows, lens):
                pool.write((int(r), slice(0, int(n))), rng.integers(0, 4000, n).astype(np.int32))
            slots = rng.integers(0, 4000, bs).astype(np.int32)
            batch = SimpleNamespace(
                reqs=[None] * bs, output_ids=jnp.asarray(rng.integers(0, 500, bs), jnp.int32),
                seq_lens=jnp.asarray(lens), seq_lens_sum=int(lens.sum()),
                req_pool_indices=jnp.asarray(rows), req_to_token_pool=pool,
                token_to_kv_pool_allocator=SimpleNamespace(page_size=page),
                alloc_token_slots=lambda n, s=slots: jnp.asarray(s[:n]),
                alloc_paged_token_slots_decode=lambda lens_, last, s=slots: jnp.asarray(
                    (s + np.asarray(last) + np.asarray(lens_)).astype(np.int32)))
            theirs = copy.copy(batch)
            theirs.req_to_token_pool = copy.copy(pool)
            theirs.req_to_token_pool.req_to_token = np.array(pool.req_to_token).view(
                type(pool.req_to_token))
            with programs_compiled() as names:
                ScheduleBatch.prepare_for_decode(batch)
            upstream(theirs)
            assert names == [], (page, bs, names)
            for key in ("input_ids", "seq_lens", "out_cache_loc"):
                np.testing.assert_array_equal(getattr(batch, key), getattr(theirs, key))
            assert batch.seq_lens_sum == theirs.seq_lens_sum
            np.testing.assert_array_equal(pool.req_to_token, theirs.req_to_token_pool.req_to_token)


def test_greedy_tokens_are_the_padded_rows_argmax_taken_on_the_host() -> None:
    """greedy_tokens_on_host: a greedy batch's next tokens are the argmax of its rows, one
    program per power of two of batch sizes; its logits read back as the batch's rows (as
    upstream's truncated output); sampling or logprob batches go to upstream's path."""
    from types import SimpleNamespace

    from sgl_jax.srt.layers.logits_processor import LogitsProcessorOutput
    from sgl_jax.srt.model_executor.forward_batch_info import ForwardMode

    rng = np.random.default_rng(23)
    padded = jnp.asarray(rng.standard_normal((16, 50)).astype(np.float32))
    runner = SimpleNamespace(
        token_to_kv_pool=None, attn_backend=None,
        forward=lambda fb, logits_metadata: (LogitsProcessorOutput(next_token_logits=padded), 0))
    upstream_calls = []
    forward = integration.PATCHES["greedy_tokens_on_host"].make(
        lambda *args: upstream_calls.append(args) or "upstream")
    worker = SimpleNamespace(model_runner=runner, mesh=None)

    def batch(k: int, greedy: bool = True, logprob: bool = False) -> Any:
        return SimpleNamespace(
            forward_mode=ForwardMode.DECODE, seq_lens=np.ones(16, np.int32), input_ids=None,
            out_cache_loc=None, positions=None, extend_start_loc=None, req_pool_indices=None,
            cache_loc=None, extend_prefix_lens=None, extend_seq_lens=None, real_bs=k,
            return_logprob=logprob, top_logprobs_nums=None, token_ids_logprobs=None,
            extend_logprob_start_lens=None, extend_input_logprob_token_ids=None,
            capture_hidden_mode=None, sampling_info=SimpleNamespace(is_all_greedy=greedy))

    for k in (1, 2, 4, 8, 16):     # a program per power of two
        forward(worker, batch(k))
    want = np.argmax(np.asarray(padded), axis=-1)
    with programs_compiled() as names:
        for k in (3, 7, 16, 2, 11, 5):
            out, ids, _ = forward(worker, batch(k))
            assert isinstance(ids, np.ndarray) and ids.tolist() == want[:k].tolist()
    assert names == [], names
    np.testing.assert_array_equal(out.next_token_logits, np.asarray(padded)[:5])
    assert forward(worker, batch(4, greedy=False)) == "upstream"
    assert forward(worker, batch(4, logprob=True)) == "upstream" and len(upstream_calls) == 2
