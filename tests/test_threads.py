"""The torch thread count a command picks, and when it warns that the machine is busy."""

from __future__ import annotations

import argparse

import pytest
import torch

from unmirage import threads
from unmirage.cli import build_parser
from unmirage.threads import (
    choose_threads,
    local_processes,
    others_load,
    oversubscribed,
    positive_int,
)


def test_default_is_every_available_cpu_for_one_process() -> None:
    assert choose_threads(None, 2, {}) == 2
    assert choose_threads(None, 16, {}) == 16


def test_processes_of_one_launch_share_the_cpus() -> None:
    assert choose_threads(None, 2, {"LOCAL_WORLD_SIZE": "2", "WORLD_SIZE": "4"}) == 1
    assert choose_threads(None, 16, {"LOCAL_WORLD_SIZE": "4"}) == 4
    assert choose_threads(None, 2, {"WORLD_SIZE": "3"}) == 1  # never below one
    assert local_processes({"LOCAL_WORLD_SIZE": "x", "WORLD_SIZE": "2"}) == 2


def test_request_then_environment_override_the_share() -> None:
    assert choose_threads(3, 2, {"OMP_NUM_THREADS": "1"}) == 3
    assert choose_threads(None, 2, {"OMP_NUM_THREADS": "1", "LOCAL_WORLD_SIZE": "1"}) == 1
    assert choose_threads(None, 8, {"OMP_NUM_THREADS": "", "LOCAL_WORLD_SIZE": "2"}) == 4
    assert choose_threads(None, 8, {"OMP_NUM_THREADS": "0"}) == 8


def test_oversubscribed_counts_other_work_against_the_threads() -> None:
    assert not oversubscribed(0.9, 2, 2)
    assert oversubscribed(1.0, 2, 2)
    assert not oversubscribed(1.9, 1, 2)
    assert oversubscribed(2.0, 1, 2)
    assert not oversubscribed(6.0, 1, 8)


def test_a_runs_own_load_is_not_other_work() -> None:
    assert others_load(2.3, 1.9) == pytest.approx(0.4)  # a run's own earlier stages
    assert others_load(1.0, 1.9) == 0.0
    assert not oversubscribed(others_load(2.3, 1.9), 2, 2)


@pytest.mark.parametrize(("load", "warned"), [(5.0, True), (0.5, False)])
def test_apply_threads_sets_torch_and_warns_once_when_busy(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], load: float, warned: bool
) -> None:
    monkeypatch.setattr(threads, "available_cpus", lambda: 2)
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (load, 0.0, 0.0))
    before = torch.get_num_threads()
    try:
        assert threads.apply_threads(1, warn=True) == 1
        assert torch.get_num_threads() == 1
        assert capsys.readouterr().err == ""  # not before the work starts
        threads.warn_if_busy()
        assert ("load average 5.0 (about" in capsys.readouterr().err) is warned
        threads.warn_if_busy()
        assert capsys.readouterr().err == ""  # once per process
        threads.apply_threads(1)
        threads.warn_if_busy()
        assert capsys.readouterr().err == ""  # library use: never armed
    finally:
        torch.set_num_threads(before)


def test_threads_option_on_model_commands_only() -> None:
    parser = build_parser()
    assert (
        parser.parse_args(
            ["eval", "--threads", "1", "--model", "m", "--data", "d", "--out", "o"]
        ).threads
        == 1
    )
    with pytest.raises(SystemExit):
        parser.parse_args(["world", "--threads", "1", "--out", "o"])
    with pytest.raises(argparse.ArgumentTypeError):
        positive_int("0")
