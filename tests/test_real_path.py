"""The real-model path end to end, for both families, on data in the released layouts.

A tiny random `LlavaForConditionalGeneration` (CLIP tower) and `Qwen2VLForConditionalGeneration`
saved as plain HF directories play llava-1.5 and Qwen2-VL; VLGuard's train.json / test.json sit
beside their train/ and test/ image folders, and a LLaVA-665k-style mix keeps its COCO/GQA
images under a root of its own. `forget-set` samples the model, then `reproduce --model` runs
Posthoc-SFT (VLGuard + the mix), NPO and RMU through every stage to report.html.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from safetensors.torch import load_file
from test_models_fixtures import SMALL_SPEC
from test_reproduce_real import _vlguard_records
from tiny_qwen2vl import build_tiny_qwen2vl

from unmirage.cli import main
from unmirage.data.images import Images
from unmirage.embedded.tiny import build_tiny_llava
from unmirage.models.loading import save_vlm
from unmirage.reproduce.config import PAPER_HELPFUL_RATIO

VISION = re.compile(r"vision_tower|visual\.(?!merger)")
"""The vision encoder (Qwen2-VL's merger is its projector, trained like LLaVA's)."""


def _write_released(tmp_path: Path) -> dict[str, Path]:
    from PIL import Image

    vlguard, llava = tmp_path / "vlguard", tmp_path / "llava"
    for split, n in (("train", 16), ("test", 6)):
        (vlguard / split / "imgs").mkdir(parents=True)
        for i in range(8):
            colour = (30 * i, 120 if split == "train" else 60, 40)
            Image.new("RGB", (32, 32), colour).save(vlguard / split / "imgs" / f"{i}.png")
        (vlguard / f"{split}.json").write_text(json.dumps(_vlguard_records(n)))
    mix = []
    for i in range(12):
        folder = ("coco/train2017", "gqa/images")[i % 2]
        (llava / "data" / folder).mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (32, 32), (9, 9, 20 * i)).save(llava / "data" / folder / f"{i}.jpg")
        turns = [
            {"from": "human", "value": "<image>\nWhat colour dominates the picture?"},
            {"from": "gpt", "value": f"Blue, shade {i}."},
        ]
        mix.append({"id": f"mix{i}", "image": f"{folder}/{i}.jpg", "conversations": turns})
    (llava / "mix665k.json").write_text(json.dumps(mix, indent=1))  # pretty-printed, as released
    return {
        "train": vlguard / "train.json",
        "test": vlguard / "test.json",
        "mix": llava / "mix665k.json",
        "train_images": vlguard / "train",
        "test_images": vlguard / "test",
        "mix_images": llava / "data",
    }


def _model(family: str, directory: Path, texts: list[str]) -> Path:
    if family == "llava":
        model, processor = build_tiny_llava(texts, SMALL_SPEC, seed=0)
    else:
        model, processor = build_tiny_qwen2vl(texts, seed=0)
    save_vlm(model, processor, directory)
    return directory


@pytest.mark.parametrize("family", ["llava", "qwen2vl"])
def test_forget_set_then_reproduce_on_released_layouts(family, tmp_path, monkeypatch, capsys):
    p = _write_released(tmp_path)
    texts = [p["train"].read_text(), p["mix"].read_text()]
    model = _model(family, tmp_path / f"tiny-{family}", texts)
    read: set[tuple[str, str]] = set()
    load = Images.load

    def spy(self: Images, sample):
        read.add((sample.image_root, sample.image))
        return load(self, sample)

    monkeypatch.setattr(Images, "load", spy)

    fs = tmp_path / "forget-set"
    fs_argv = [
        "forget-set", "--model", str(model), "--data", str(p["train"]),
        "--image-root", str(p["train_images"]), "--samples", "1", "--max-new-tokens", "4",
        "--retain-extra", str(p["mix"]), "--retain-extra-image-root", str(p["mix_images"]),
        "--retain-size", "12", "--quiet", "--out", str(fs),
    ]  # fmt: skip
    assert main(fs_argv) == 0
    shared = json.loads((fs / "manifest.json").read_text())["image_root"]
    assert Path(shared) == tmp_path  # VLGuard's train/ and the mix's data/ share this parent
    assert {s[0] for s in read} == {str(p["train_images"].resolve())}  # sampling read VLGuard

    read.clear()
    out = tmp_path / "run"
    argv = [
        "reproduce", "--model", str(model),
        "--safety-data", str(p["train"]), "--image-root", f"safety={p['train_images']}",
        "--test-data", str(p["test"]), "--image-root", f"test={p['test_images']}",
        "--helpful-data", str(p["mix"]), "--image-root", f"helpful={p['mix_images']}",
        "--forget", str(fs / "forget.json"), "--retain", str(fs / "retain.json"),
        "--image-root", f"forget={shared}", "--image-root", f"retain={shared}",
        "--k", "1", "--max-new-tokens", "2", "--align-steps", "2", "--no-depth",
        "--out", str(out),
    ]  # fmt: skip
    assert main(argv) == 0
    roots = {Path(root) for root, _ in read}
    resolved = {p[k].resolve() for k in ("train_images", "test_images", "mix_images")}
    assert roots == resolved | {Path(shared).resolve()}
    assert any(image.startswith("coco/") for _, image in read)  # the mix's own images

    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["models"]) == {"base", "sft-posthoc", "npo", "rmu"}
    for name, m in metrics["models"].items():
        assert m["n_unsafe"] == 6 and m["n_benign"] == 3, name
        assert all(isinstance(m[k], float) for k in ("asr_pre", "asr_post", "rr_pre")), name
    assert "Table 1" in (out / "report.html").read_text()

    stages = {d.name.rsplit("-", 1)[0]: d for d in (out / "stages").iterdir()}
    config = json.loads((stages["align-sft-posthoc"] / "model" / "train_config.json").read_text())
    files = config["files"]["train"]["files"]
    vlguard_samples = 8 * 2 + 8  # 8 safe images x 2 pairs + 8 unsafe images
    assert [f["samples"] for f in files] == [vlguard_samples, 12]
    assert files[1]["weight"] == pytest.approx(PAPER_HELPFUL_RATIO * vlguard_samples / 12)

    base = load_file(model / "model.safetensors")

    def changed(name: str) -> set[str]:
        after = load_file(stages[f"align-{name}"] / "model" / "model.safetensors")
        return {k for k in base if not base[k].equal(after[k])}

    for name in ("sft-posthoc", "npo"):
        moved = changed(name)
        assert moved and not any(VISION.search(k) for k in moved), name
        assert any("lm_head" in k for k in moved), name  # the output head trains too
    rmu = changed("rmu")
    layer = json.loads((stages["align-rmu"] / "model" / "train_config.json").read_text())
    assert rmu and all(re.search(r"layers\.\d+\.mlp\.", k) for k in rmu)
    assert layer["method"] == "rmu"
