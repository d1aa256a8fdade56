"""Checkpoints of a run: saved atomically every `checkpoint_every` steps (the last one kept),
resumed only by a run of the same configuration, the log cut back to the step resumed from."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from safetensors.torch import load_file, save_file
from torch import nn

from unmirage.errors import InputError
from unmirage.io import atomic_write_text


def check_same_run(out_dir: Path, resolved: dict[str, Any]) -> None:
    """Refuse to resume checkpoints made with a different configuration."""
    path = out_dir / "train_config.json"
    old = json.loads(path.read_text(encoding="utf-8"))
    for key in resolved:
        if old.get(key) != resolved[key]:
            raise InputError(
                f"{out_dir} holds checkpoints of a run with a different '{key}' configuration; "
                "use a new output directory or delete its checkpoints/",
                file=str(path),
                field=key,
            )


class Checkpoints:
    """`out_dir/checkpoints/step-NNNNNNNN/`: trainable weights, optimizer, schedule, RNG.

    Weights are safetensors; optimizer and schedule state go through torch.save and are read
    back with `weights_only=True` (no pickled code). A checkpoint directory is written under a
    temporary name and renamed when complete, so the latest one is always whole.
    """

    def __init__(self, out_dir: Path, accelerator: Accelerator) -> None:
        self.dir = out_dir / "checkpoints"
        self.acc = accelerator

    def latest(self) -> Path | None:
        if not self.dir.is_dir():
            return None
        done = sorted(p for p in self.dir.glob("step-*") if p.is_dir())
        return done[-1] if done else None

    def save(self, step: int, model: nn.Module, optimizer: Any, scheduler: Any) -> None:
        acc = self.acc
        final = self.dir / f"step-{step:08d}"
        tmp = self.dir / f".step-{step:08d}.tmp"
        if acc.is_main_process:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        acc.wait_for_everyone()
        torch.save({"torch": torch.get_rng_state()}, tmp / f"rng-{acc.process_index}.pt")
        if acc.is_main_process:
            weights = {
                n: p.detach().cpu().contiguous().clone()
                for n, p in acc.unwrap_model(model).named_parameters()
                if p.requires_grad
            }
            save_file(weights, tmp / "model.safetensors")
            state = {
                "step": step,
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
            }
            torch.save(state, tmp / "state.pt")
        acc.wait_for_everyone()
        if acc.is_main_process:
            tmp.rename(final)
            for old in self.dir.glob("step-*"):
                if old != final:
                    shutil.rmtree(old)
        acc.wait_for_everyone()

    def load(self, path: Path, model: nn.Module, optimizer: Any, scheduler: Any) -> int:
        weights = load_file(path / "model.safetensors")
        result = self.acc.unwrap_model(model).load_state_dict(weights, strict=False)
        if result.unexpected_keys:
            raise InputError(
                f"checkpoint has weights the model lacks: {result.unexpected_keys[:3]}",
                file=str(path),
            )
        state = torch.load(path / "state.pt", weights_only=True)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        rng = path / f"rng-{self.acc.process_index}.pt"
        if rng.is_file():
            torch.set_rng_state(torch.load(rng, weights_only=True)["torch"])
        return int(state["step"])

    def remove(self) -> None:
        if self.acc.is_main_process:
            shutil.rmtree(self.dir, ignore_errors=True)


def truncate_log(path: Path, step: int) -> None:
    """Drop log lines after `step` (written after the checkpoint a resumed run starts from)."""
    if not path.is_file():
        return
    lines = path.read_text(encoding="utf-8").splitlines()
    kept = [ln for ln in lines if ln.strip() and json.loads(ln)["step"] <= step]
    atomic_write_text(path, "".join(ln + "\n" for ln in kept))
