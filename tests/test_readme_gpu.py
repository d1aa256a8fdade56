"""The README's real-model sequence, pasted as written, runs on tiny stand-ins.

The shell block under "The whole real-model sequence" runs in bash from a directory laid out as
its paths expect: VLGuard's train.json / test.json beside their image folders, LLaVA-665k's mix
beside its coco/ and gqa/ folders, and tiny random models saved under the Hub ids it names
(a local directory of that name wins over the Hub). The only changes are sizes, appended to each
`unmirage` call (argparse keeps the last value): one step, short answers, the CPU, and RMU's
layer inside the tiny model's two.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from test_forget_set import write_tiny_judge
from test_models_fixtures import SMALL_SPEC
from test_reproduce_real import _vlguard_records

from unmirage.embedded.tiny import build_tiny_llava
from unmirage.models.loading import save_vlm

REPO = Path(__file__).resolve().parents[1]
SMALLER = {
    "forget-set": "--samples 1 --max-new-tokens 4 --batch-size 4 --device cpu --dtype float32 "
    "--retain-size 12 --judge-min-mass 0 --quiet",
    "align": "--steps 1 --batch-size 2 --quiet",
    "eval": "--max-new-tokens 2",
    "reproduce": "--align-steps 1 --k 1 --max-new-tokens 2 --no-depth",
}
"""What the wrapper appends per command: sizes for a tiny model on a CPU, nothing else."""


def readme_block(heading: str) -> str:
    """The first bash block after `heading` in the README."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index(heading)
    block = text[text.index("```bash\n", start) + len("```bash\n") :]
    return block[: block.index("```")]


def readme_sequence() -> str:
    """The step-by-step sequence, then the section's first command (the whole pipeline in one
    `reproduce`, on the forget-set's files of step 1); the FSDP launch needs GPUs."""
    first = readme_block("## Real models and GPUs").split("\n\n")[0]
    return readme_block("The whole real-model sequence, step by step") + "\n" + first + "\n"


def _layout(root: Path) -> None:
    for split, n in (("train", 16), ("test", 6)):
        (root / "vlguard" / split / "imgs").mkdir(parents=True)
        for i in range(8):
            Image.new("RGB", (16, 16), (30 * i, 90, 9)).save(root / f"vlguard/{split}/imgs/{i}.png")
        (root / "vlguard" / f"{split}.json").write_text(json.dumps(_vlguard_records(n)))
    mix = []
    for i in range(16):
        folder = ("coco/train2017", "gqa/images")[i % 2]
        (root / "llava" / folder).mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (16, 16), (9, 9, 15 * i)).save(root / "llava" / folder / f"{i}.jpg")
        turns = [
            {"from": "human", "value": "<image>\nWhat colour is it?"},
            {"from": "gpt", "value": f"Blue {i}."},
        ]
        mix.append({"id": f"m{i}", "image": f"{folder}/{i}.jpg", "conversations": turns})
    (root / "llava" / "llava_v1_5_mix665k.json").write_text(json.dumps(mix))


def test_the_readme_gpu_sequence_runs_as_written(tmp_path):
    _layout(tmp_path)
    texts = [(tmp_path / "vlguard/train.json").read_text()]
    model, processor = build_tiny_llava(texts, SMALL_SPEC, seed=0)
    for hub_id in ("llava-hf/llava-1.5-7b-hf", "llava-hf/llava-1.5-13b-hf"):
        save_vlm(model, processor, tmp_path / hub_id)
    write_tiny_judge(tmp_path / "meta-llama" / "Llama-2-13b-chat-hf")
    (tmp_path / "configs").symlink_to(REPO / "configs")
    cases = "\n".join(f"    {cmd}) extra=({flags});;" for cmd, flags in SMALLER.items())
    wrapper = f"""set -euo pipefail
python() {{ "{sys.executable}" "$@"; }}
unmirage() {{
  local cmd=$1 extra=(); shift
  case $cmd in
{cases}
  esac
  case "$*" in *rmu-lora.yaml*) extra+=(--knob layer=1);; esac
  "{sys.executable}" -m unmirage.cli "$cmd" "$@" "${{extra[@]}}"
}}
"""
    script = tmp_path / "sequence.sh"
    script.write_text(wrapper + readme_sequence())
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        ["bash", str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for name in ("llava-1.5-7b-hf", "sft", "npo", "rmu"):
        metrics = json.loads((tmp_path / "runs/eval" / name / "metrics.json").read_text())
        [row] = metrics["models"].values()
        assert row["n_unsafe"] == 6 and isinstance(row["asr_post"], float), name
    metrics = json.loads((tmp_path / "runs/llava/metrics.json").read_text())
    assert set(metrics["models"]) == {"base", "sft-posthoc", "npo", "rmu"}
    manifest = json.loads((tmp_path / "runs/forget-set/manifest.json").read_text())
    assert manifest["counts"]["retain_extra"] > 0  # the LLaVA-665k top-up with its own images


@pytest.mark.parametrize("command", sorted(SMALLER))
def test_the_sequence_uses_every_resized_command(command):
    assert f"unmirage {command} " in readme_sequence()
