"""The one training loop for every method: data order, optimisation, checkpoints, resume, save.

A `Method` supplies only its loss over `{stream: batch}`; everything here is shared, so SFT and
every unlearning objective get the same seeded data order, schedule, accumulation, logging and
crash safety. Runs on one process or under `torchrun`/`accelerate launch` (DDP via accelerate):
micro-batch `m` of process `r` of `W` takes stream positions `[(m*W + r)*B, (m*W + r + 1)*B)`.

Layout of `out_dir` while training: `train_config.json` (resolved config), `train_log.jsonl`
(one line per optimizer step, append-only), `checkpoints/step-NNNNNNNN/`. The model files
(config.json, model.safetensors, processor, chat template) appear only when training finished.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import DistributedDataParallelKwargs, DistributedType, set_seed
from torch import nn
from transformers import get_scheduler

from unmirage.data.images import Images
from unmirage.data.sample import Sample
from unmirage.errors import InputError
from unmirage.io import atomic_write_json, staged_dir
from unmirage.methods.base import Method
from unmirage.methods.losses import Batch
from unmirage.models.encode import encode_for_training
from unmirage.models.loading import save_vlm
from unmirage.progress import progress_bar
from unmirage.provenance import runtime
from unmirage.threads import warn_if_busy
from unmirage.training.checkpoints import Checkpoints, check_same_run, truncate_log
from unmirage.training.config import SCHEDULES, StopRule, TrainConfig


def stream_positions(n: int, seed: int, stream: str, start: int, count: int) -> list[int]:
    """Indices `start .. start+count` of an endless, seeded walk over a stream of `n` samples.

    Each stream cycles on its own and is reshuffled every epoch with a generator seeded by
    (seed, stream, epoch), so a short retain set never runs out and a resumed run sees the
    same order as an uninterrupted one.
    """
    out: list[int] = []
    perms: dict[int, list[int]] = {}
    for k in range(start, start + count):
        epoch, pos = divmod(k, n)
        if epoch not in perms:
            key = zlib.crc32(f"{seed}:{stream}:{epoch}".encode())
            gen = torch.Generator().manual_seed(key)
            perms[epoch] = torch.randperm(n, generator=gen).tolist()
        out.append(perms[epoch][pos])
    return out


def total_steps(config: TrainConfig, first_stream_size: int, processes: int) -> int:
    if config.steps is not None:
        return config.steps
    per_step = config.batch_size * config.grad_accum * processes
    return max(1, math.ceil(config.epochs * first_stream_size / per_step))


def select_trainable(model: nn.Module, config: TrainConfig, method: Method) -> nn.Module:
    """Apply LoRA, the `trainable` patterns, then the method's own restriction (if any).

    Patterns are regular expressions searched in parameter names; each must match something,
    so a typo fails loudly instead of silently training nothing or everything.
    """
    if config.lora is not None:
        from peft import LoraConfig, get_peft_model

        lora = config.lora
        model = get_peft_model(
            model,
            LoraConfig(
                r=lora.r,
                lora_alpha=lora.alpha,
                lora_dropout=lora.dropout,
                target_modules=lora.target_modules,
            ),
        )
    names = [n for n, _ in model.named_parameters()]
    if config.trainable is not None:
        check_patterns(config.trainable, names, "trainable")
        for name, param in model.named_parameters():
            hit = any(re.search(p, name) for p in config.trainable)
            param.requires_grad_(hit or (config.lora is not None and param.requires_grad))
    allowed = method.trainable_parameter_patterns(model)
    if allowed is not None:
        check_patterns(allowed, names, "method")
        for name, param in model.named_parameters():
            if not any(re.search(p, name) for p in allowed):
                param.requires_grad_(False)
    if not any(p.requires_grad for p in model.parameters()):
        raise InputError("no trainable parameters are left", field="trainable")
    return model


def check_patterns(patterns: Sequence[str], names: Sequence[str], field: str) -> None:
    for pattern in patterns:
        try:
            regex = re.compile(pattern)
        except re.error as err:
            raise InputError(f"bad pattern {pattern!r}: {err}", field=field) from None
        if not any(regex.search(n) for n in names):
            raise InputError(f"pattern {pattern!r} matches no parameter name", field=field)


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW; weight decay on matrices only (not on biases, norms)."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": config.weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=config.lr)


def resolved_config(
    method: Method, config: TrainConfig, data: Mapping[str, Sequence[Sample]]
) -> dict[str, Any]:
    return {
        "method": method.name,
        "knobs": dataclasses.asdict(method),
        "train": dataclasses.asdict(config),
        "data": {s: len(data[s]) for s in method.streams},
    }


def flat_config(resolved: dict[str, Any]) -> dict[str, Any]:
    """Scalars only, as experiment trackers want them."""
    flat: dict[str, Any] = {}
    for group, values in resolved.items():
        for key, value in values.items() if isinstance(values, dict) else [("", values)]:
            name = f"{group}.{key}" if key else group
            ok = isinstance(value, (int, float, str, bool))
            flat[name] = value if ok else json.dumps(value)
    return flat


class Streams:
    """Encodes the micro-batches of every stream a method reads, on the training device."""

    def __init__(
        self,
        processor: Any,
        data: Mapping[str, Sequence[Sample]],
        images: Images,
        config: TrainConfig,
        accelerator: Accelerator,
    ) -> None:
        self.processor = processor
        self.data = data
        self.images = images
        self.config = config
        self.acc = accelerator

    def encode(self, stream: str, indices: Sequence[int]) -> Batch:
        samples = [self.data[stream][i] for i in indices]
        batch = encode_for_training(
            self.processor, samples, self.images, max_length=self.config.max_length
        )
        batch["index"] = torch.tensor(list(indices), dtype=torch.long)
        return {k: v.to(self.acc.device) for k, v in batch.items()}

    def micro_batch(self, streams: Sequence[str], micro_step: int) -> dict[str, Batch]:
        b = self.config.batch_size
        start = (micro_step * self.acc.num_processes + self.acc.process_index) * b
        return {
            s: self.encode(s, stream_positions(len(self.data[s]), self.config.seed, s, start, b))
            for s in streams
        }

    def loaders(self, streams: Sequence[str]) -> dict[str, Callable[[], Iterator[Batch]]]:
        """In-order, unshuffled passes over each stream, for `Method.setup`."""

        def one_pass(stream: str) -> Iterator[Batch]:
            n, b = len(self.data[stream]), self.config.batch_size
            for start in range(0, n, b):
                yield self.encode(stream, range(start, min(n, start + b)))

        return {s: (lambda s=s: one_pass(s)) for s in streams}


def check_tracker(report_to: str) -> None:
    """Fail before training if the chosen experiment tracker is not installed."""
    if report_to == "none":
        return
    from accelerate.utils import is_tensorboard_available, is_wandb_available

    available = {"tensorboard": is_tensorboard_available, "wandb": is_wandb_available}
    if not available[report_to]():
        raise InputError(
            f"--report-to {report_to} needs: pip install 'unmirage[{report_to}]'",
            field="report_to",
        )


def save_final(model: nn.Module, processor: Any, config: TrainConfig, out: Path) -> nn.Module:
    """Write the model files into `out` at once; with LoRA the adapter, then the merge."""
    with staged_dir(out) as stage:
        if config.lora is not None:
            save_vlm(model, processor, stage / "adapter")
            if config.merge_lora:
                model = model.merge_and_unload()
        if config.lora is None or config.merge_lora:
            save_vlm(model, processor, stage)
    return model


def backpropagate(
    method: Method,
    model: nn.Module,
    batch: Mapping[str, Batch],
    backward_fn: Callable[[torch.Tensor], None],
    *,
    split: bool = True,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Backpropagate the method's loss on one batch; return the loss (detached) and its logs,
    the loss first.

    `split`: term by term (`Method.loss_terms`), each term's graph freed by its backward before
    the next is built; the gradients add up to those of the summed loss. Else in one piece.
    """
    terms = method.loss_terms(model, batch) if split else [method.loss(model, batch)]
    total = None
    logs: dict[str, float] = {}
    for term, term_logs in terms:
        backward_fn(term)
        total = term.detach() if total is None else total + term.detach()
        logs.update(term_logs)
    if total is None:
        raise RuntimeError(f"method '{method.name}' gave no loss terms")
    return total, {"loss": total.item(), **logs}


def train(
    model: nn.Module,
    processor: Any,
    method: Method,
    data: Mapping[str, Sequence[Sample]],
    config: TrainConfig,
    out_dir: str | Path,
    *,
    progress: bool = True,
    label: str | None = None,
    provenance: Mapping[str, Any] | None = None,
    stop: StopRule | None = None,
) -> nn.Module:
    """Train `model` with `method` on `data[stream]`, save it to `out_dir`, return it.

    Each sample's image is opened against the root its file was read with (`Images`), decoded
    once for the whole run.

    Rerun with the same `out_dir` and configuration after a crash or kill: training resumes
    from the latest checkpoint, and the final weights equal those of an uninterrupted run.
    `Method.setup` runs on the initial weights, also when resuming. With LoRA, the adapter is
    saved to `out_dir/adapter` and, if `merge_lora`, merged into the saved full model.
    `label` names the progress bar (default: the method's name).
    `provenance` (e.g. model source, data files and their hashes) joins the resolved config in
    `train_config.json`, so a rerun with other inputs of the same size refuses to resume.
    `stop` is checked every `config.eval_every` steps; its record joins the log line, and the
    run ends (and saves) at the first check that says stop.
    """
    config.validate()
    out = Path(out_dir)
    for s in method.streams:
        if not data.get(s):
            raise InputError(f"method '{method.name}' needs a non-empty '{s}' data set", field=s)
    check_tracker(config.report_to)
    set_seed(config.seed)
    model = select_trainable(model, config, method)
    # cpu: under torchrun with no GPU, accelerate otherwise runs each process on its own.
    # find_unused_parameters: a text-only batch leaves the vision tower without gradients.
    accelerator = Accelerator(
        cpu=not torch.accelerator.is_available(),
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
        gradient_accumulation_steps=config.grad_accum,
        mixed_precision=config.mixed_precision,
        log_with=None if config.report_to == "none" else config.report_to,
        project_dir=str(out),
    )
    model.to(accelerator.device)
    streams = Streams(processor, data, Images(cache=True), config, accelerator)
    model.eval()
    method.setup(model, streams.loaders(method.streams))
    model.train()

    # after setup: the record holds the knobs as setup resolved them (RMU's "auto")
    resolved = {
        **resolved_config(method, config, data),
        **(provenance or {}),
        "derived_knobs": method.derived_knobs(),
    }
    checkpoints = Checkpoints(out, accelerator)
    resume_from = checkpoints.latest()
    if resume_from is not None:
        check_same_run(out, resolved)
    elif accelerator.is_main_process:
        atomic_write_json(out / "train_config.json", {**resolved, "runtime": runtime()})

    steps = total_steps(config, len(data[method.streams[0]]), accelerator.num_processes)
    optimizer = make_optimizer(model, config)
    scheduler = get_scheduler(
        SCHEDULES[config.schedule],
        optimizer,
        num_warmup_steps=config.warmup_steps,
        num_training_steps=steps,
    )
    model, optimizer = accelerator.prepare(model, optimizer)
    start = 0
    if resume_from is not None:
        start = checkpoints.load(resume_from, model, optimizer, scheduler)
    log_path = out / "train_log.jsonl"
    if accelerator.is_main_process:
        truncate_log(log_path, start)
    if config.report_to != "none":
        accelerator.init_trackers("unmirage", config=flat_config(resolved))

    # DeepSpeed's backward also steps its optimizer: there the loss goes back in one piece
    split = accelerator.distributed_type != DistributedType.DEEPSPEED
    warn_if_busy()  # here, once every input is checked: bad input keeps its one line
    t0 = time.monotonic()
    with progress_bar(progress and accelerator.is_main_process) as bar:
        task = bar.add_task(label or method.name, total=steps, completed=start, status="")
        for step in range(start, steps):
            sums: dict[str, float] = {}
            for micro in range(config.grad_accum):
                batch = streams.micro_batch(method.streams, step * config.grad_accum + micro)
                with accelerator.accumulate(model):
                    _, logs = backpropagate(method, model, batch, accelerator.backward, split=split)
                    if accelerator.sync_gradients and config.max_grad_norm is not None:
                        norm = accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
                        logs = {**logs, "grad_norm": float(norm)}
                    optimizer.step()
                    optimizer.zero_grad()
                for key, value in logs.items():
                    sums[key] = sums.get(key, 0.0) + value
            scheduler.step()
            means = torch.tensor(list(sums.values()), device=accelerator.device)
            means = accelerator.reduce(means, reduction="mean") / config.grad_accum
            record = {"step": step + 1, **dict(zip(sums, means.tolist(), strict=True))}
            record.update(lr=scheduler.get_last_lr()[0], elapsed=time.monotonic() - t0)
            done = False
            if stop is not None and (step + 1) % config.eval_every == 0:
                model.eval()
                done, checked = stop.check(accelerator.unwrap_model(model))
                model.train()
                record.update(checked)
            if accelerator.is_main_process:
                with log_path.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(record) + "\n")
            if config.report_to != "none":
                accelerator.log(record, step=step + 1)
            bar.update(task, advance=1, status=f"loss {record['loss']:.4f}")
            if done:
                break
            every = config.checkpoint_every
            if every and (step + 1) % every == 0 and step + 1 < steps:
                checkpoints.save(step + 1, model, optimizer, scheduler)

    accelerator.wait_for_everyone()
    final = accelerator.unwrap_model(model)
    if accelerator.is_main_process:
        final = save_final(final, processor, config, out)
    accelerator.wait_for_everyone()
    if config.report_to != "none":
        accelerator.end_training()
    if not config.keep_checkpoints:
        checkpoints.remove()
    final.eval()
    return final
