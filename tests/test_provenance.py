"""Provenance records the arithmetic a run used: torch version, threads, CPU model, kernels."""

from __future__ import annotations

import json
import platform

import torch

from unmirage.cli import main
from unmirage.provenance import cpu_model, provenance, runtime


def test_runtime_names_torch_threads_cpu_and_kernels():
    info = runtime()
    assert info["torch_version"] == torch.__version__
    assert info["torch_threads"] == torch.get_num_threads() >= 1
    assert info["cpu_capability"] == torch.backends.cpu.get_cpu_capability() != ""
    assert isinstance(info["cpu_model"], str) and info["cpu_model"]


def test_thread_count_is_read_when_provenance_is_made():
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert runtime()["torch_threads"] == 2
        torch.set_num_threads(1)
        assert runtime()["torch_threads"] == 1
    finally:
        torch.set_num_threads(before)


def test_cpu_model_from_cpuinfo_or_platform(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: X\nmodel name\t: Example CPU @ 2.0GHz\n")
    assert cpu_model(info) == "Example CPU @ 2.0GHz"
    info.write_text("processor\t: 0\n")
    assert cpu_model(info) == (platform.processor() or "unknown")
    assert cpu_model(tmp_path / "missing") == (platform.processor() or "unknown")


def test_metrics_provenance_carries_the_runtime(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text('{"id": "a", "query": "q"}\n')
    block = provenance({"k": 1}, [data], seed=3)
    assert block["seed"] == 3
    assert {k: block[k] for k in runtime()} == runtime()


def test_a_trained_models_config_records_the_runtime(smoke_world, tmp_path):
    out = tmp_path / "model"
    argv = ["base", "--world", str(smoke_world), "--out", str(out), "--quiet"]
    tiny = ["--steps", "2", "--vision-steps", "0", "--grounding-steps", "0"]
    assert main([*argv, *tiny]) == 0
    saved = json.loads((out / "train_config.json").read_text())
    assert saved["runtime"] == runtime()
