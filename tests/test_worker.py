"""The RunPod glue over a real Service: message shapes, the three handler shapes, refresh_worker."""

import asyncio

import torch
from conftest import FaultyBackend, service_with_scheduler

from handler.worker import STREAM_REFUSED, Worker


async def collect(agen):
    return [message async for message in agen]


def test_the_generator_handler_yields_one_result_for_a_whole_request(service):
    worker = Worker(service, {})
    messages = asyncio.run(collect(worker.generator_handler({"id": "j1", "input": {"text": "Hi.", "nfe_step": 4}})))
    assert len(messages) == 1 and "audio_base64" in messages[0] and "done" not in messages[0]


def test_the_generator_handler_streams_pieces_then_a_summary(service):
    worker = Worker(service, {})
    job = {"id": "j1s", "input": {"text": "Hi there. A second sentence.", "stream": True, "nfe_step": 4}}
    *pieces, summary = asyncio.run(collect(worker.generator_handler(job)))
    assert pieces and [p["index"] for p in pieces] == list(range(len(pieces)))
    assert summary["done"] is True and summary["segments"] == len(pieces) and "audio_base64" not in summary


def test_the_local_test_handler_wraps_a_stream(service):
    worker = Worker(service, {})
    result = asyncio.run(worker.local_test_handler({"id": "j2", "input": {"text": "Hi.", "stream": True, "nfe_step": 4}}))
    assert result["stream"][-1]["done"] is True and "audio_base64" in result["stream"][0]


def test_the_result_handler_refuses_a_stream_before_any_work(service):
    result = asyncio.run(Worker(service, {}).result_handler({"id": "j2r", "input": {"text": "Hi.", "stream": True}}))
    assert result == {"error": STREAM_REFUSED}


def test_a_gpu_failure_sets_the_sdk_refresh_flag(service):
    fault = lambda: RuntimeError("CUDA error: an illegal memory access was encountered")  # noqa: E731
    victim = service_with_scheduler(service, FaultyBackend(service.backend, fault))
    sdk_config: dict = {}
    worker = Worker(victim, sdk_config)
    messages = asyncio.run(collect(worker.generator_handler({"id": "j3", "input": {"text": "Hi."}})))
    assert len(messages) == 1 and "GPU failure" in messages[0]["error"]
    assert "refresh_worker" not in messages[0]  # moved to the SDK config, which the SDK reads after the job
    assert sdk_config["refresh_worker"] is True


def test_the_local_test_handler_passes_refresh_worker_to_the_sdk(service):
    oom = lambda: torch.cuda.OutOfMemoryError("CUDA out of memory")  # noqa: E731
    victim = service_with_scheduler(service, FaultyBackend(service.backend, oom))
    result = asyncio.run(Worker(victim, {}).local_test_handler({"id": "j4", "input": {"text": "Hi."}}))
    assert result["refresh_worker"] is True and "error" in result
