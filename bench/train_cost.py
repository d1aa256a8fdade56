"""Training cost per 1,000 tokens and peak memory of every method, against SFT and the naive way.

Every registered method, plus two naive baselines written here the way public code does it
(NPO with a reference-model forward at every step; RMU with a second full frozen model run to
the last layer) and NPO with its loss backpropagated in one piece (`npo-summed`, as under
DeepSpeed; the loop otherwise backpropagates forget and retain terms one after the other),
trains on the default world's base model with the same batch shape: batches of `--batch-size`
rows, all padded to one width. SFT trains one batch per step, the unlearning
methods one forget and one retain batch, so costs are per 1,000 tokens trained (a token is a
sequence position processed, image tokens included). All variants run in one process, round
robin with a no-grad forward and a 1024^2 float32 matmul, and each reports the median over
`--repeats` of its mean step time. Peak memory (the kernel's peak-RSS mark, reset after
loading) comes from a fresh subprocess per variant. Achieved FLOP/s of SFT (6 x matmul
parameters x tokens / s) is set against the matmul's, on the same threads.

    python bench/train_cost.py --out /tmp/bench-cost --threads 1
    python bench/train_cost.py --out /tmp/bench-cost --threads 1 --quick

The base model is built once into `--out` by `unmirage world --preset default` and `unmirage
base` with few steps: its architecture is the default base model's (weights do not change
the cost); `--model` and `--world` reuse existing ones.
"""

from __future__ import annotations

import argparse
import copy
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import transformers
from timing import CLOCKS, medians, side_by_side
from torch import Tensor, nn

from unmirage.data.images import Images
from unmirage.data.loaders import load_samples
from unmirage.methods.base import METHODS, Method, get_method
from unmirage.methods.losses import Batch, model_inputs, response_nll
from unmirage.methods.npo import NPO, npo_loss
from unmirage.methods.rmu import RMU, capture, rmu_distance
from unmirage.methods.unlearning import Logs, Unlearning
from unmirage.models.encode import IGNORE_INDEX, encode_for_training
from unmirage.models.loading import load_vlm
from unmirage.threads import apply_threads, warn_if_busy
from unmirage.training.config import TrainConfig
from unmirage.training.train import backpropagate, make_optimizer, select_trainable

NAIVE = {"naive-npo": "npo", "naive-rmu": "rmu"}
"""Baseline -> the method whose loss it computes the naive way."""
SUMMED = {"npo-summed": "npo"}
"""Variant -> the method it runs with the loss summed and backpropagated in one piece (as
under DeepSpeed), against the loop's term-by-term backward."""
MATMUL_N = 1024
"""Side of the float32 matmul that sets the attainable FLOP/s (large enough for peak rate)."""
STREAM_SPLIT = {"train": "safety_sft", "forget": "forget", "retain": "retain"}
"""World split that feeds each data stream."""


class NaiveNPO(NPO):
    """NPO as public code runs it: a full reference copy, run on every forget batch."""

    def setup(self, model: nn.Module, loaders: Any) -> None:
        Unlearning.setup(self, model, loaders)
        self._full = copy.deepcopy(model).eval().requires_grad_(False)

    def forget_loss(self, model: nn.Module, batch: Batch) -> tuple[Tensor, Logs]:
        with torch.no_grad():
            ref = self.logprob(self._full, batch)
        logratio = self.logprob(model, batch) - ref
        loss = npo_loss(logratio, self.beta).mean()
        return loss, {"forget_npo": loss.item()}


class NaiveRMU(RMU):
    """RMU as public code runs it: a second full frozen model, run to the last layer on every
    retain batch, its layer-L output taken by a hook; the live model also runs to the end."""

    def setup(self, model: nn.Module, loaders: Any) -> None:
        super().setup(model, loaders)
        self._frozen = None
        self._full = copy.deepcopy(model).eval().requires_grad_(False)

    def retain_loss(self, model: nn.Module, batch: Batch) -> tuple[Tensor, Logs]:
        layers, _, last = self.span(model)
        with capture(layers[last][1]) as seen:
            logits = model(**model_inputs(batch)).logits
        frozen_layers, _, _ = self.span(self._full)
        with torch.no_grad(), capture(frozen_layers[last][1]) as frozen:
            self._full(**model_inputs(batch))
        nll = response_nll(logits, batch["labels"])
        match = rmu_distance(seen["output"], frozen["output"], batch["labels"] != -100)
        return nll + self.alpha * match, {"retain_nll": nll.item(), "retain_rep": match.item()}


@dataclass
class Setting:
    """What every variant shares: model, data and batch shape."""

    model_dir: Path
    world: Path
    batch_size: int
    seed: int = 0


def pad_to(batch: dict[str, Tensor], width: int, pad_id: int) -> dict[str, Tensor]:
    """Right-pad a training batch to `width` positions (padding is masked, labels ignored)."""
    extra = width - batch["input_ids"].shape[1]
    if extra == 0:
        return batch
    fill = {"input_ids": pad_id, "attention_mask": 0, "labels": IGNORE_INDEX}
    out = dict(batch)
    for key, value in fill.items():
        out[key] = nn.functional.pad(batch[key], (0, extra), value=value)
    return out


def fixed_batches(setting: Setting, processor: Any) -> dict[str, dict[str, Tensor]]:
    """One batch per stream, the first rows of each split, all padded to the same width."""
    images = Images()
    batches = {}
    for stream, split in STREAM_SPLIT.items():
        rows = load_samples(setting.world / f"{split}.jsonl")[: setting.batch_size]
        batch = encode_for_training(processor, rows, images)
        batch["index"] = torch.arange(len(rows))
        batches[stream] = batch
    width = max(b["input_ids"].shape[1] for b in batches.values())
    pad_id = processor.tokenizer.pad_token_id
    return {s: pad_to(b, width, pad_id) for s, b in batches.items()}


def make_method(name: str) -> Method:
    """A registered method with its default knobs (RMU's "auto" ones resolve in setup, as in
    align), or a naive baseline with the defaults of its method."""
    if name == "naive-npo":
        return NaiveNPO()
    if name == "naive-rmu":
        return NaiveRMU()
    return get_method(SUMMED.get(name, name))


class Variant:
    """One method on its own copy of the base model, with its optimizer, ready to step."""

    def __init__(
        self,
        name: str,
        base: nn.Module,
        setting: Setting,
        batches: dict,
        *,
        copy_model: bool = True,
    ) -> None:
        self.name = name
        model = copy.deepcopy(base) if copy_model else base
        self.method = make_method(name)
        config = TrainConfig(steps=1, batch_size=setting.batch_size, checkpoint_every=0)
        self.model = select_trainable(model, config, self.method)
        self.batch = {s: batches[s] for s in self.method.streams}
        self.tokens = sum(int(b["input_ids"].numel()) for b in self.batch.values())
        self.model.eval()
        start = time.perf_counter()
        self.method.setup(self.model, {s: (lambda b=b: iter([b])) for s, b in self.batch.items()})
        self.setup_seconds = time.perf_counter() - start
        self.model.train()
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = make_optimizer(self.model, config)

    def step(self) -> None:
        """One optimizer step as the training loop takes it (loss, backward, clip, update)."""
        split = self.name not in SUMMED
        backpropagate(self.method, self.model, self.batch, torch.Tensor.backward, split=split)
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)


def matmul_params(model: nn.Module) -> int:
    """Weights of the language model's and LM head's linear layers: the 6ND count's N."""
    return sum(
        m.weight.numel()
        for name, m in model.named_modules()
        if isinstance(m, nn.Linear) and ("language_model" in name or "lm_head" in name)
    )


def matmul(n: int) -> Callable[[], None]:
    """An n x n float32 matmul: the machine's attainable FLOP/s on torch's threads."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    return lambda: a @ b


def forward_only(model: nn.Module, batch: Batch) -> Callable[[], None]:
    """One no-grad forward of the whole model: what a naive baseline adds per batch."""

    @torch.no_grad()
    def run() -> None:
        model(**model_inputs(batch))

    return run


def build_base(out: Path, seed: int) -> tuple[Path, Path]:
    """World and base model of the default preset (few training steps), built once."""
    world, model = out / "world", out / "base"
    exe = [sys.executable, "-m", "unmirage.cli"]
    if not (world / "world.json").is_file():
        cmd = [*exe, "world", "--preset", "default", "--seed", str(seed), "--out", str(world)]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    if not (model / "model.safetensors").is_file():
        small = ["--steps", "2", "--vision-steps", "2", "--vision-images", "64"]
        cmd = [*exe, "base", "--world", str(world), "--out", str(model), "--quiet", *small]
        cmd += ["--grounding-steps", "0", "--checkpoint-every", "0", "--seed", str(seed)]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return world, model


def peak_memory(name: str, args: argparse.Namespace, world: Path, model: Path) -> dict:
    """Memory of a fresh process that loads the model, then builds `name` and takes two steps:
    its peak RSS and how far training raised it above the loaded state (MB)."""
    cmd = [sys.executable, __file__, "--memory-of", name, "--world", str(world)]
    cmd += ["--model", str(model), "--batch-size", str(args.batch_size)]
    cmd += ["--threads", str(args.threads), "--out", str(args.out)]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def status_mb(field: str) -> float:
    """A memory line of /proc/self/status (VmRSS, VmHWM) in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def memory_child(args: argparse.Namespace) -> None:
    """Load, reset the kernel's peak-RSS mark, train two steps, print the peak as JSON.

    Writing 5 to /proc/self/clear_refs resets VmHWM (Linux >= 4.0), so the peak is that of
    training alone, not of importing and loading; ru_maxrss would report the larger of both.
    """
    setting = Setting(args.model, args.world, args.batch_size)
    base, processor = load_vlm(setting.model_dir)
    batches = fixed_batches(setting, processor)
    loaded = status_mb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")
    variant = Variant(args.memory_of, base, setting, batches, copy_model=False)
    del base
    for _ in range(2):
        variant.step()
    peak = status_mb("VmHWM")
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "loaded_mb": loaded,
                "train_peak_mb": peak,
                "added_mb": peak - loaded,
                "ru_maxrss_mb": maxrss,
            }
        )
    )


def summary(
    seconds: dict[str, list[float]], variants: Sequence[Variant], tokens: int, n_params: int
) -> dict[str, Any]:
    """Costs, ratios and FLOP/s from one clock's seconds per step."""
    median = medians(seconds)
    per_k = {v.name: 1000 * median[v.name] / v.tokens for v in variants}
    methods: dict[str, dict[str, Any]] = {}
    for v in variants:
        entry = {
            "ms_per_1k_tokens": 1000 * per_k[v.name],
            "x_sft": per_k[v.name] / per_k["sft"],
            "step_seconds": seconds[v.name],
        }
        naive = next((k for k, m in NAIVE.items() if m == v.name), None)
        if naive:
            entry["x_naive"] = per_k[v.name] / per_k[naive]
            # without the naive baseline's extra forward at all, no lower than this
            entry["floor_x_naive"] = 1 - median["forward"] / median[naive]
        methods[v.name] = entry
    achieved = 6 * n_params * tokens / median["sft"]
    peak = 2 * MATMUL_N**3 / median["matmul"]
    return {
        "methods": methods,
        "no_grad_forward_ms_per_1k_tokens": 1e6 * median["forward"] / tokens,
        "flops": {
            "achieved_gflops": achieved / 1e9,
            "matmul_gflops": peak / 1e9,
            "fraction": achieved / peak,
        },
    }


def table(result: dict[str, Any], clock: str) -> str:
    timed = result["clocks"][clock]
    rows = [f"{'method':<11}{'ms/1k tok':>10}{'x SFT':>7}{'x naive':>9}{'setup s':>9}{'+MB':>6}"]
    for name, r in timed["methods"].items():
        naive = f"{r['x_naive']:.2f}" if "x_naive" in r else "-"
        more = result["methods"][name]
        rows.append(
            f"{name:<11}{r['ms_per_1k_tokens']:>10.1f}{r['x_sft']:>7.2f}{naive:>9}"
            f"{more['setup_seconds']:>9.2f}{more['memory']['added_mb']:>6.0f}"
        )
    floors = ", ".join(
        f"{n} {r['floor_x_naive']:.2f}" for n, r in timed["methods"].items() if "floor_x_naive" in r
    )
    f = timed["flops"]
    rows += [
        f"a no-grad forward of one batch: {timed['no_grad_forward_ms_per_1k_tokens']:.1f} ms/1k "
        "tok (naive NPO adds one per forget batch, naive RMU one per retain batch); without it "
        f"at all the ratio to naive could go no lower than {floors}",
        "setup s: the method's setup on one batch; +MB: peak RSS of a fresh process while "
        "training, above the loaded model",
        f"SFT: {f['achieved_gflops']:.2f} GFLOP/s (6 x {result['matmul_params']:,} params x "
        f"{result['tokens_per_batch']} tokens per step); {MATMUL_N}^2 float32 matmul "
        f"{f['matmul_gflops']:.2f} GFLOP/s: {100 * f['fraction']:.0f}%",
    ]
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="work directory (world, base)")
    parser.add_argument("--world", type=Path, help="world directory (default: built in --out)")
    parser.add_argument("--model", type=Path, help="base model (default: built in --out)")
    parser.add_argument("--batch-size", type=int, default=16, help="rows per batch (16, align's)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=2, help="steps per variant per repeat")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--clock", choices=CLOCKS, default="cpu", help="clock of the table")
    parser.add_argument("--quick", action="store_true", help="3 repeats of 1 step, batch 8")
    parser.add_argument("--json", type=Path, help="also write the numbers to this file")
    parser.add_argument("--memory-of", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.steps, args.batch_size = 3, 1, 8
    apply_threads(args.threads, warn=not args.memory_of)
    warn_if_busy()
    transformers.logging.disable_progress_bar()
    torch.manual_seed(0)
    if args.memory_of:
        memory_child(args)
        return
    args.out.mkdir(parents=True, exist_ok=True)
    world, model_dir = args.world, args.model
    if world is None or model_dir is None:
        world, model_dir = build_base(args.out, seed=0)
    setting = Setting(model_dir, world, args.batch_size)
    base, processor = load_vlm(model_dir)
    batches = fixed_batches(setting, processor)
    names = [*sorted(METHODS, key=lambda n: (n != "sft", n)), *SUMMED, *NAIVE]
    variants = [Variant(n, base, setting, batches) for n in names]
    runs: dict[str, Callable[[], None]] = {v.name: v.step for v in variants}
    runs["forward"] = forward_only(copy.deepcopy(base).eval(), batches["retain"])
    runs["matmul"] = matmul(MATMUL_N)
    seconds = side_by_side(runs, args.repeats, calls=args.steps)
    tokens = int(batches["train"]["input_ids"].numel())
    n_params = matmul_params(base)
    result: dict[str, Any] = {
        "model": str(model_dir),
        "base_built_by": "unmirage world --preset default + unmirage base (few steps)"
        if args.model is None
        else "given",
        "batch_size": args.batch_size,
        "tokens_per_batch": tokens,
        "width": int(batches["train"]["input_ids"].shape[1]),
        "repeats": args.repeats,
        "steps_per_repeat": args.steps,
        "torch_threads": torch.get_num_threads(),
        "matmul_params": n_params,
        "clocks": {c: summary(s, variants, tokens, n_params) for c, s in seconds.items()},
        "methods": {
            v.name: {"tokens_per_step": v.tokens, "setup_seconds": v.setup_seconds}
            for v in variants
        },
    }
    del variants
    for name in names:
        result["methods"][name]["memory"] = peak_memory(name, args, world, model_dir)
    print(
        f"batch {args.batch_size} x {result['width']} positions, {result['torch_threads']} "
        f"threads, median of {args.repeats} x {args.steps} steps, {args.clock} time; model "
        f"{model_dir} ({result['base_built_by']}); process after loading: "
        f"{result['methods']['sft']['memory']['loaded_mb']:.0f} MB"
    )
    print(table(result, args.clock))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
