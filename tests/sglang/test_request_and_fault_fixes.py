"""The request-validation and chip-error fixes of jax_chip.sglang (patches/fixes.py) on their own,
without a server (test_server_load.py runs them in launch_server on the chip). JAX on cpu."""

from __future__ import annotations

import os
import pathlib
import sys
from types import SimpleNamespace
from unittest import mock

os.environ.setdefault("JAX_PLATFORMS", "cpu")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "python"))

import jax  # noqa: E402
import pydantic  # noqa: E402
import pytest  # noqa: E402

import jax_chip.sglang as integration  # noqa: E402
from jax_chip.sglang.patches import fixes  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def applied():
    with jax.default_device(jax.devices("cpu")[0]):
        yield integration.apply()


def _request(**kw):
    from sgl_jax.srt.managers.io_struct import GenerateReqInput
    return GenerateReqInput(**kw)


@pytest.mark.parametrize("kw,message", [
    ({"sampling_params": {"max_new_tokens": 4}}, "needs `text` or `input_ids`"),
    ({"input_ids": [1, 2], "sampling_params": {"max_new_tokens": 4, "tempature": 0.0}},
     r"unknown field\(s\) \['tempature'\]"),
    ({"input_ids": [1, 2], "sampling_params": {"max_new_tokens": "4"}},
     "max_new_tokens must be int, got str"),
    ({"input_ids": [1, 2], "sampling_params": {"temperature": "hot"}},
     "temperature must be float, got str"),
    ({"input_ids": [1, 2], "sampling_params": {"ignore_eos": 1}}, "ignore_eos must be bool"),
    ({"input_ids": [1, 2], "sampling_params": [3]}, "must be an object, got int"),
])
def test_bad_generate_requests_are_value_errors(kw, message):
    """ValueError is what sglang-jax's /generate turns into a 400 with the message."""
    with pytest.raises(ValueError, match=message):
        _request(**kw).normalize_batch_and_arguments()


def test_good_requests_pass():
    req = _request(input_ids=[1, 2, 3], sampling_params={"max_new_tokens": 4, "temperature": 0,
                                                         "ignore_eos": True, "stop": None})
    req.normalize_batch_and_arguments()
    assert req.is_single


def test_unknown_top_level_field_is_a_validation_error():
    from sgl_jax.srt.managers.io_struct import GenerateReqInput
    adapter = pydantic.TypeAdapter(GenerateReqInput)
    assert adapter.validate_python({"input_ids": [1]}).input_ids == [1]
    with pytest.raises(pydantic.ValidationError, match="no_such_field"):
        adapter.validate_python({"input_ids": [1], "no_such_field": 2})


def test_token_ids_outside_the_vocabulary_are_rejected():
    from sgl_jax.srt.managers.tokenizer_manager import TokenizerManager
    manager = SimpleNamespace(model_config=SimpleNamespace(vocab_size=100))
    create = TokenizerManager._create_tokenized_object
    for ids in ([1, 100], [-1, 2], [1, 2.0], [True]):
        with pytest.raises(ValueError, match=r"token ids in \[0, 100\)"):
            create(manager, SimpleNamespace(), None, ids)


def _scheduler(batch_reqs, running_reqs):
    s = SimpleNamespace(
        running_batch=SimpleNamespace(reqs=running_reqs), chunked_req=None,
        last_batch="old", cur_batch="old", tree_cache=mock.Mock(), req_to_token_pool=mock.Mock(),
        token_to_kv_pool_allocator=mock.Mock(), stream_output=mock.Mock(),
        tp_worker=SimpleNamespace(model_runner=SimpleNamespace(token_to_kv_pool=mock.Mock())))
    return s, SimpleNamespace(reqs=batch_reqs)


class _Req:
    """What _fail_step uses of sgl_jax's Req (hashed by identity, as Req is)."""

    def __init__(self, finished_output: bool) -> None:
        self.finished_output = finished_output
        self.finished_reason = None


def _req(finished_output=False):
    return _Req(finished_output)


def test_chip_error_in_a_step_fails_the_requests_holding_kv_and_resets_the_pool():
    s, batch = _scheduler([_req(), _req()], [_req(), _req(finished_output=True)])
    error = jax.errors.JaxRuntimeError("INTERNAL: injected chip fault executing 'jit_run_model'")
    running = list(s.running_batch.reqs)
    result = fixes._step_errors(mock.Mock(side_effect=error))(s, batch)
    assert isinstance(result, fixes._FailedStep)
    failed = s.stream_output.call_args.args[0]
    assert failed == batch.reqs + running[:1]     # the one already answered is not sent again
    assert running[1].finished_reason is None
    for req in failed:
        assert req.finished_reason.status_code == 500
        assert "injected chip fault" in req.finished_reason.message
        assert "3 request(s) failed" in req.finished_reason.message
    assert s.running_batch.reqs == [] and s.last_batch is None and s.cur_batch is None
    s.tree_cache.reset.assert_called_once()
    s.req_to_token_pool.clear.assert_called_once()
    s.token_to_kv_pool_allocator.clear.assert_called_once()
    s.tp_worker.model_runner.token_to_kv_pool._create_buffers.assert_called_once()

    # the failed step's result is not processed; an error while reading a result is handled too
    process = mock.Mock()
    fixes._result_errors(process)(s, batch, result)
    process.assert_not_called()
    s2 = _scheduler([_req()], [])[0]
    fixes._result_errors(mock.Mock(side_effect=error))(s2, SimpleNamespace(reqs=[_req()]), object())
    assert s2.stream_output.call_count == 1


def test_other_errors_still_propagate():
    """Only device errors are handled: a Python bug in the step is not swallowed."""
    s = _scheduler([_req()], [])[0]
    with pytest.raises(KeyError):
        fixes._step_errors(mock.Mock(side_effect=KeyError("bug")))(s, SimpleNamespace(reqs=[]))
    s.stream_output.assert_not_called()
