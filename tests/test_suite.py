"""The suite's own settings: every command it runs in-process uses one torch thread and
leaves one behind, and under CI a missing ../shared fails the real-data tests instead of
skipping them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from shared_data import require

import unmirage.commands.eval as eval_command
from unmirage.cli import main
from unmirage.errors import InputError


def test_in_process_commands_use_one_thread_and_give_the_count_back(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen: list[int] = []

    def run(args) -> int:
        seen.append(torch.get_num_threads())
        if args.seed == 1:
            raise InputError("bad input", field="--data")
        return 0

    monkeypatch.setattr(eval_command, "run", run)
    argv = ["eval", "--model", "m", "--data", "d", "--out", str(tmp_path / "out")]
    assert os.environ["OMP_NUM_THREADS"] == "1" and torch.get_num_threads() == 1
    assert main(argv) == 0
    assert main([*argv, "--threads", "2"]) == 0
    assert main([*argv, "--threads", "3", "--seed", "1"]) == 2
    assert seen == [1, 2, 3]
    assert torch.get_num_threads() == 1


def test_missing_shared_data_skips_on_a_plain_clone_and_fails_under_ci(tmp_path: Path) -> None:
    present = tmp_path / "test.json"
    present.write_text("[]")
    assert require(present, {"CI": "true"}) == present
    missing = tmp_path / "missing.json"
    with pytest.raises(pytest.skip.Exception):
        require(missing, {})
    with pytest.raises(pytest.fail.Exception, match=r"CI=true but .*missing\.json is missing"):
        require(missing, {"CI": "true"})
