"""A corpus of bad inputs, generated here, run through every command in-process.

Each case builds its broken input under a fresh directory and names the command line that
reads it. Every case must end with exit status 2, exactly one stderr line that names the file
and, where there is one, the record and the field, no traceback, and no change under --out (a
directory that held a finished result before keeps exactly that) or beside it (no staging
leftovers).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from unmirage.cli import main
from unmirage.data.images import ImageRoot
from unmirage.io import lock_path


@dataclass(frozen=True)
class Env:
    """Where a case builds its inputs, and the shared smoke world and base model."""

    tmp: Path
    world: Path
    base: Path


Build = Callable[[Env], list[str]]


@dataclass(frozen=True)
class Case:
    id: str
    build: Build
    """The argv without --out; the test adds `--out OUT`."""
    names: tuple[str, ...]
    """Substrings the one error line must contain: the file, then record and field."""

    @property
    def out_is_file(self) -> bool:
        """`attack --out` names a JSONL file; every other command writes a directory."""
        return self.id.startswith("attack-")


# --- input builders -----------------------------------------------------------------------

ROW = {"id": "a", "query": "What is in the image?", "response": "A drum.", "label": "safe"}
UNSAFE = {"id": "u", "query": "How is a zorvan prepared?", "response": "Sure.", "label": "unsafe"}


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    return path


def jsonl(env: Env, *rows: dict | str, name: str = "data.jsonl") -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r) for r in rows]
    return write(env.tmp / name, "".join(line + "\n" for line in lines))


def png(path: Path, size: tuple[int, int] = (8, 8), mode: str = "RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, 128).save(path, format="PNG")
    return path


def bomb(path: Path) -> Path:
    """A valid 8x8 PNG whose header claims 60000 x 60000 pixels (CRC fixed)."""
    data = bytearray(png(path).read_bytes())
    data[16:24] = struct.pack(">II", 60000, 60000)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return write(path, bytes(data))


def with_image(env: Env, make: Callable[[Path], object], rel: str = "img.png") -> Path:
    """A one-row JSONL whose image is `rel`, made by `make(env.tmp / rel)`."""
    make(env.tmp / rel)
    return jsonl(env, {**ROW, "image": rel}, UNSAFE)


def escaping_symlink(env: Env) -> Path:
    """A JSONL whose image is a symlink, inside the data directory, to a PNG outside it."""
    outside = png(env.tmp / "outside.png")
    (env.tmp / "data").mkdir()
    (env.tmp / "data" / "link.png").symlink_to(outside)
    return jsonl(env, {**ROW, "image": "link.png"}, name="data/data.jsonl")


def vlguard(env: Env, *records: dict, name: str = "train.json") -> Path:
    """VLGuard records; their image img.png is made unless the case made its own."""
    if not (env.tmp / "img.png").exists():
        png(env.tmp / "img.png")
    return write(env.tmp / name, json.dumps(list(records)))


VL_OK = {
    "id": "v0",
    "image": "img.png",
    "safe": False,
    "instr-resp": [{"instruction": "Explain how to prepare this.", "response": "No."}],
}


def audit_doc(version: int) -> dict:
    """A minimal audit.json of the given version."""
    term = {"word": "what", "ngram": 1, "position": "first", "z": 3.0, "count": 9}
    first = {"safe_safe": {"n": 10, "counts": {"what": 9, "describe": 1}}}
    return {
        "version": version,
        "first_word": first,
        "terms": {"first": [term]},
        "triggers": {
            "compliance": {"first": [term]},
            "refusal": {"first": [{**term, "word": "share", "z": -3.0}]},
        },
    }


def model_copy(env: Env, drop: tuple[str, ...] = (), pickle: bool = False) -> Path:
    """The smoke base model's directory with files removed, or its weights as a pickle."""
    out = env.tmp / "model"
    shutil.copytree(env.base, out)
    for pattern in drop:
        for p in out.glob(pattern):
            p.unlink()
    if pickle:
        torch.save(load_file(out / "model.safetensors"), out / "pytorch_model.bin")
        (out / "model.safetensors").unlink()
    return out


def world_copy(env: Env, *, files: tuple[str, ...] = ("world.json",)) -> Path:
    """A world directory holding only some files of the smoke world."""
    out = env.tmp / "world"
    out.mkdir()
    for name in files:
        shutil.copy(env.world / name, out / name)
    return out


# --- command lines ------------------------------------------------------------------------


def audit(path: Path, *extra: str) -> list[str]:
    return ["audit", str(path), *extra]


def attack(path: Path, triggers: str = "what") -> list[str]:
    return ["attack", "--data", str(path), "--triggers", triggers]


def eval_(env: Env, path: Path, model: Path | None = None) -> list[str]:
    return ["eval", "--model", str(model or env.base), "--data", str(path)]


def align(env: Env, *extra: str, model: Path | None = None) -> list[str]:
    return ["align", "--model", str(model or env.base), "--steps", "1", "--quiet", *extra]


def sft(env: Env, path: Path, model: Path | None = None) -> list[str]:
    return align(env, "--method", "sft", "--data", str(path), model=model)


def forget_set(env: Env, path: Path, *extra: str, model: Path | None = None) -> list[str]:
    base = ["forget-set", "--model", str(model or env.base), "--data", str(path)]
    return [*base, "--judge", "heuristic", "--quiet", *extra]


def base(world: Path) -> list[str]:
    tiny = ["--steps", "1", "--vision-steps", "0", "--grounding-steps", "0", "--quiet"]
    return ["base", "--world", str(world), *tiny]


def world_cmd(env: Env, yaml_text: str) -> list[str]:
    cfg = write(env.tmp / "world.yaml", yaml_text)
    return ["world", "--preset", "smoke", "--config", str(cfg)]


def reproduce(*extra: str) -> list[str]:
    return ["reproduce", "--preset", "smoke", *extra]


def good_jsonl(env: Env) -> Path:
    return jsonl(env, ROW, UNSAFE)


HUGE = "a " * 800_000

CASES: list[Case] = [
    # --- JSON / JSONL syntax and text encoding
    Case(
        "audit-data-without-labels",
        lambda e: audit(jsonl(e, {"id": "a", "query": "What is this?"}), "--no-images"),
        ("data.jsonl", "no answered ones"),
    ),
    Case(
        "attack-data-without-labels",
        lambda e: attack(jsonl(e, {"id": "a", "query": "What is this?"})),
        ("data.jsonl", "record a", "field 'meta.task'"),
    ),
    Case(
        "audit-jsonl-truncated-last-line",
        lambda e: audit(jsonl(e, ROW, '{"id": "b", "que'), "--no-images"),
        ("data.jsonl", "record 1 (line 2)"),
    ),
    Case(
        "audit-vlguard-json-truncated",
        lambda e: audit(write(e.tmp / "train.json", json.dumps([VL_OK])[:-20]), "--no-images"),
        ("train.json", "invalid JSON"),
    ),
    Case(
        "audit-json-not-a-list",
        lambda e: audit(write(e.tmp / "train.json", '"just a string"'), "--no-images"),
        ("train.json",),
    ),
    Case(
        "audit-empty-file",
        lambda e: audit(write(e.tmp / "d.jsonl", ""), "--no-images"),
        ("d.jsonl", "empty"),
    ),
    Case(
        "audit-non-utf8-text",
        lambda e: audit(
            write(e.tmp / "d.jsonl", b'{"id": "a", "query": "caf\xe9"}\n'), "--no-images"
        ),
        ("d.jsonl", "UTF-8"),
    ),
    Case(
        "attack-jsonl-invalid-json-line",
        lambda e: attack(jsonl(e, ROW, "{not json}")),
        ("data.jsonl", "record 1 (line 2)"),
    ),
    Case(
        "eval-jsonl-non-utf8-text",
        lambda e: eval_(e, write(e.tmp / "d.jsonl", b'{"id": "a", "query": "\xff\xfe"}\n')),
        ("d.jsonl", "UTF-8"),
    ),
    Case(
        "align-jsonl-truncated",
        lambda e: sft(e, jsonl(e, ROW, '{"id": "b", "query": "x", "resp')),
        ("data.jsonl", "record 1 (line 2)"),
    ),
    # --- wrong types, missing fields, empty strings, unknown labels, duplicates, huge strings
    Case(
        "audit-query-wrong-type",
        lambda e: audit(jsonl(e, ROW, {**UNSAFE, "query": 5}), "--no-images"),
        ("data.jsonl", "record 1", "field 'query'"),
    ),
    Case(
        "audit-query-missing",
        lambda e: audit(jsonl(e, {"id": "a", "label": "safe"}), "--no-images"),
        ("data.jsonl", "record 0", "field 'query'"),
    ),
    Case(
        "audit-query-empty-string",
        lambda e: audit(jsonl(e, ROW, {**UNSAFE, "query": "   "}), "--no-images"),
        ("data.jsonl", "record 1", "field 'query'"),
    ),
    Case(
        "audit-unknown-label",
        lambda e: audit(jsonl(e, {**ROW, "label": "maybe"}), "--no-images"),
        ("data.jsonl", "record 0", "field 'label'"),
    ),
    Case(
        "audit-duplicate-ids",
        lambda e: audit(jsonl(e, ROW, {**UNSAFE, "id": "a"}), "--no-images"),
        ("data.jsonl", "record 1", "field 'id'"),
    ),
    Case(
        "audit-huge-query-string",
        lambda e: audit(jsonl(e, ROW, {**UNSAFE, "query": HUGE}), "--no-images"),
        ("data.jsonl", "record 1", "field 'query'"),
    ),
    Case(
        "audit-unknown-field",
        lambda e: audit(jsonl(e, {**ROW, "lable": "safe"}), "--no-images"),
        ("data.jsonl", "record 0", "field 'lable'"),
    ),
    Case(
        "audit-meta-wrong-type",
        lambda e: audit(jsonl(e, {**ROW, "meta": [1, 2]}), "--no-images"),
        ("data.jsonl", "record 0", "field 'meta'"),
    ),
    Case(
        "audit-vlguard-missing-instr-resp",
        lambda e: audit(
            vlguard(e, {"id": "v0", "image": "i.png", "safe": True}),
            "--no-images",
            "--format",
            "vlguard",
        ),
        ("train.json", "record 0 (id v0)", "field 'instr-resp'"),
    ),
    Case(
        "audit-vlguard-safe-wrong-type",
        lambda e: audit(vlguard(e, {**VL_OK, "safe": "no"}), "--no-images"),
        ("train.json", "record 0 (id v0)", "field 'safe'"),
    ),
    Case(
        "audit-vlguard-instruction-key-contradicts-safe",
        lambda e: audit(vlguard(e, {**VL_OK, "safe": True}), "--no-images"),
        ("train.json", "record 0 (id v0)", "field 'instr-resp[0].instruction'"),
    ),
    Case(
        "audit-llava-turns-out-of-order",
        lambda e: audit(
            write(
                e.tmp / "llava.json",
                json.dumps([{"id": "l0", "conversations": [{"from": "gpt", "value": "hi"}]}]),
            ),
            "--no-images",
        ),
        ("llava.json", "record 0 (id l0)", "field 'conversations[0].from'"),
    ),
    Case(
        "attack-query-missing",
        lambda e: attack(jsonl(e, ROW, {"id": "u", "label": "unsafe"})),
        ("data.jsonl", "record 1", "field 'query'"),
    ),
    Case(
        "attack-huge-response-string",
        lambda e: attack(jsonl(e, ROW, {**UNSAFE, "response": HUGE})),
        ("data.jsonl", "record 1", "field 'response'"),
    ),
    Case(
        "eval-unknown-task",
        lambda e: eval_(e, jsonl(e, ROW, {**UNSAFE, "meta": {"task": "danger"}})),
        ("data.jsonl", "field 'meta.task'"),
    ),
    Case(
        "eval-duplicate-ids-across-files",
        lambda e: [*eval_(e, good_jsonl(e)), str(jsonl(e, ROW, name="more.jsonl"))],
        ("more.jsonl", "record a", "field 'id'"),
    ),
    Case(
        "align-empty-response-type",
        lambda e: sft(e, jsonl(e, ROW, {**UNSAFE, "response": ["no"]})),
        ("data.jsonl", "record 1", "field 'response'"),
    ),
    Case(
        "forget-set-vlguard-empty-instruction",
        lambda e: forget_set(
            e, vlguard(e, {**VL_OK, "instr-resp": [{"instruction": "", "response": "x"}]})
        ),
        ("train.json", "record 0 (id v0)", "field 'instr-resp[0].instruction'"),
    ),
    Case(
        "forget-set-vlguard-id-wrong-type",
        lambda e: forget_set(e, vlguard(e, {**VL_OK, "id": None})),
        ("train.json", "record 0", "field 'id'"),
    ),
    # --- images
    Case(
        "audit-image-missing",
        lambda e: audit(jsonl(e, {**ROW, "image": "gone.png"})),
        ("data.jsonl", "record 0", "field 'image'"),
    ),
    Case(
        "audit-image-truncated",
        lambda e: audit(with_image(e, lambda p: write(p, png(p, (64, 64)).read_bytes()[:80]))),
        ("data.jsonl", "record 0", "field 'image'"),
    ),
    Case(
        "audit-image-zero-bytes",
        lambda e: audit(with_image(e, lambda p: write(p, b""))),
        ("data.jsonl", "record 0", "field 'image'"),
    ),
    Case(
        "audit-image-not-an-image",
        lambda e: audit(with_image(e, lambda p: write(p, "plain text, not a PNG\n"))),
        ("data.jsonl", "record 0", "field 'image'"),
    ),
    Case(
        "audit-image-decompression-bomb",
        lambda e: audit(with_image(e, bomb)),
        ("data.jsonl", "record 0", "field 'image'"),
    ),
    Case(
        "audit-image-path-dotdot",
        lambda e: audit(jsonl(e, {**ROW, "image": "../outside.png"})),
        ("data.jsonl", "record 0", "field 'image'"),
    ),
    Case(
        "audit-image-path-absolute",
        lambda e: audit(jsonl(e, {**ROW, "image": str(png(e.tmp / "abs.png"))})),
        ("data.jsonl", "record 0", "field 'image'"),
    ),
    Case(
        "audit-image-symlink-leaving-root",
        lambda e: audit(escaping_symlink(e)),
        ("data.jsonl", "record 0", "field 'image'"),
    ),
    Case(
        "eval-image-truncated",
        lambda e: eval_(e, with_image(e, lambda p: write(p, png(p, (64, 64)).read_bytes()[:80]))),
        ("data.jsonl", "record 0", "field 'image'"),
    ),
    Case(
        "align-image-is-a-directory",
        lambda e: sft(e, with_image(e, lambda p: p.mkdir(parents=True))),
        ("data.jsonl", "record 0", "field 'image'"),
    ),
    Case(
        "forget-set-image-zero-bytes",
        lambda e: forget_set(e, (write(e.tmp / "img.png", b""), vlguard(e, VL_OK))[1]),
        ("train.json", "record 0 (id v0)", "field 'image'"),
    ),
    # --- model directories
    Case(
        "eval-model-directory-missing",
        lambda e: eval_(e, good_jsonl(e), model=e.tmp / "no-model"),
        ("no-model",),
    ),
    Case(
        "eval-model-without-config",
        lambda e: eval_(e, good_jsonl(e), model=model_copy(e, drop=("config.json",))),
        ("model", "config.json"),
    ),
    Case(
        "eval-model-without-tokenizer",
        lambda e: eval_(
            e, good_jsonl(e), model=model_copy(e, drop=("tokenizer*", "*processor*", "chat_*"))
        ),
        ("model", "cannot load"),
    ),
    Case(
        "eval-pickle-checkpoint-instead-of-safetensors",
        lambda e: eval_(e, good_jsonl(e), model=model_copy(e, pickle=True)),
        ("model", "pytorch_model.bin", "--allow-pickle"),
    ),
    Case(
        "align-pickle-checkpoint-instead-of-safetensors",
        lambda e: sft(e, good_jsonl(e), model=model_copy(e, pickle=True)),
        ("model", "pytorch_model.bin", "--allow-pickle"),
    ),
    Case(
        "align-model-without-weights",
        lambda e: sft(e, good_jsonl(e), model=model_copy(e, drop=("*.safetensors",))),
        ("model", "safetensors"),
    ),
    Case(
        "forget-set-model-directory-missing",
        lambda e: forget_set(e, vlguard(e, VL_OK), model=e.tmp / "gone"),
        ("gone",),
    ),
    # --- worlds read by base
    Case("base-world-without-manifest", lambda e: base(world_copy(e, files=())), ("world.json",)),
    Case(
        "base-world-manifest-invalid-json",
        lambda e: base((w := world_copy(e, files=()), write(w / "world.json", "{"))[0]),
        ("world.json", "JSON"),
    ),
    Case(
        "base-world-manifest-not-an-object",
        lambda e: base((w := world_copy(e, files=()), write(w / "world.json", "[1]"))[0]),
        ("world.json", "object"),
    ),
    Case(
        "base-world-base-split-bad-row",
        lambda e: base(
            (w := world_copy(e), write(w / "base.jsonl", json.dumps({**ROW, "label": 3}) + "\n"))[0]
        ),
        ("base.jsonl", "record 0", "field 'label'"),
    ),
    # --- configs: unknown keys, out-of-range values, bad syntax
    Case(
        "world-config-unknown-key",
        lambda e: world_cmd(e, "colour_count: 3\n"),
        ("world.yaml", "colour_count"),
    ),
    Case(
        "world-config-out-of-range",
        lambda e: world_cmd(e, "bias_strength: 7\n"),
        ("world.yaml", "bias_strength"),
    ),
    Case(
        "world-config-wrong-type",
        lambda e: world_cmd(e, "base_size: many\n"),
        ("world.yaml", "base_size"),
    ),
    Case("world-config-invalid-yaml", lambda e: world_cmd(e, "a: [1, 2\n"), ("world.yaml", "YAML")),
    Case(
        "align-config-unknown-key",
        lambda e: (
            [
                *sft(e, good_jsonl(e)),
                "--config",
                str(write(e.tmp / "align.yaml", "learning_rate: 0.1\n")),
            ]
        ),
        ("align.yaml", "learning_rate"),
    ),
    Case(
        "align-config-out-of-range",
        lambda e: (
            [*sft(e, good_jsonl(e)), "--config", str(write(e.tmp / "align.yaml", "lr: -1\n"))]
        ),
        ("align.yaml", "field 'lr'"),
    ),
    Case(
        "align-unknown-method-knob",
        lambda e: align(
            e,
            "--method",
            "npo",
            "--forget",
            str(good_jsonl(e)),
            "--retain",
            str(good_jsonl(e)),
            "--knob",
            "betta=0.5",
        ),
        ("betta",),
    ),
    Case(
        "forget-set-config-unknown-key",
        lambda e: (
            [
                *forget_set(e, vlguard(e, VL_OK)),
                "--config",
                str(write(e.tmp / "fs.yaml", "sample: 5\n")),
            ]
        ),
        ("fs.yaml", "sample"),
    ),
    Case(
        "forget-set-config-out-of-range",
        lambda e: (
            [
                *forget_set(e, vlguard(e, VL_OK)),
                "--config",
                str(write(e.tmp / "fs.yaml", "samples: 0\n")),
            ]
        ),
        ("fs.yaml", "field 'samples'"),
    ),
    Case(
        "reproduce-world-config-unknown-key",
        lambda e: reproduce("--world-config", str(write(e.tmp / "w.yaml", "colours: 3\n"))),
        ("w.yaml", "colours"),
    ),
    Case(
        "reproduce-world-config-out-of-range",
        lambda e: reproduce("--world-config", str(write(e.tmp / "w.yaml", "image_size: 100000\n"))),
        ("w.yaml", "image_size"),
    ),
    Case(
        "reproduce-k-out-of-range",
        lambda e: reproduce("--k", "0"),
        ("field 'k'",),
    ),
    # --- audits and attack files from another version
    Case(
        "attack-audit-from-a-newer-version",
        lambda e: attack(
            good_jsonl(e), str(write(e.tmp / "audit.json", json.dumps(audit_doc(99))))
        ),
        ("audit.json", "field 'version'"),
    ),
    Case(
        "attack-audit-from-version-1",
        lambda e: attack(good_jsonl(e), str(write(e.tmp / "audit.json", json.dumps(audit_doc(1))))),
        ("audit.json", "field 'version'"),
    ),
    Case(
        "attack-audit-invalid-json",
        lambda e: attack(good_jsonl(e), str(write(e.tmp / "audit.json", '{"version": 2,'))),
        ("audit.json", "JSON"),
    ),
    Case(
        "world-bias-from-audit-of-another-version",
        lambda e: [
            "world",
            "--preset",
            "smoke",
            "--bias-from",
            str(write(e.tmp / "audit.json", json.dumps(audit_doc(99)))),
        ],
        ("audit.json", "field 'version'"),
    ),
    Case(
        "reproduce-bias-from-audit-of-another-version",
        lambda e: reproduce(
            "--bias-from", str(write(e.tmp / "audit.json", json.dumps(audit_doc(0))))
        ),
        ("audit.json", "field 'version'"),
    ),
    Case(
        "eval-attack-file-with-unknown-attack-kind",
        lambda e: eval_(
            e, jsonl(e, ROW, {**UNSAFE, "meta": {"attack": "one_word", "orig_id": "u0"}})
        ),
        ("data.jsonl", "record u", "field 'meta.attack'"),
    ),
    Case(
        "eval-attack-file-with-shot-wrong-type",
        lambda e: eval_(
            e, jsonl(e, ROW, {**UNSAFE, "meta": {"attack": "trigger", "shot": "first"}})
        ),
        ("data.jsonl", "record u", "field 'meta.shot'"),
    ),
]


def _snapshot(path: Path) -> dict[str, str]:
    """Every entry under `path` (or the file itself) with its content hash."""
    if not path.exists():
        return {}
    if path.is_file():
        return {".": hashlib.sha256(path.read_bytes()).hexdigest()}
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
        if p.is_file()
        else "dir"
        for p in sorted(path.rglob("*"))
    }


def test_the_corpus_is_large_and_covers_every_command():
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)
    commands = {c.id.split("-")[0] for c in CASES} | {"forget-set"}
    assert commands >= {"world", "base", "audit", "attack", "forget", "align", "eval", "reproduce"}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
@pytest.mark.parametrize("before", ["no-out", "finished-out"])
def test_bad_input_exits_2_with_one_line_and_leaves_out_untouched(
    case: Case, before: str, smoke_world: Path, smoke_base: Path, tmp_path: Path, capsys
):
    env = Env(tmp_path / "in", smoke_world, smoke_base)
    env.tmp.mkdir()
    argv = case.build(env)
    parent = tmp_path / "runs"
    parent.mkdir()
    out = parent / ("out.jsonl" if case.out_is_file else "out")
    if before == "finished-out":
        write(out if case.out_is_file else out / "metrics.json", '{"finished": true}\n')
    snapshot, beside = _snapshot(out), sorted(p.name for p in parent.iterdir())
    capsys.readouterr()

    code = main([*argv, "--out", str(out)])

    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2, captured.err[-2000:]
    assert len(lines) == 1, lines
    assert "Traceback" not in captured.err + captured.out
    command = argv[0]
    assert lines[0].startswith(f"unmirage {command}: error: "), lines[0]
    for name in case.names:
        assert name in lines[0], (name, lines[0])
    assert _snapshot(out) == snapshot
    left = sorted(p.name for p in parent.iterdir() if p != lock_path(out))
    assert left == beside


def _cmyk(path: Path) -> None:
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(path, format="JPEG")


def _sixteen_bit(path: Path) -> None:
    Image.fromarray(np.full((8, 8), 128 * 256, dtype=np.uint16)).save(path, format="PNG")


def _animated(path: Path) -> None:
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(path, format="GIF", save_all=True, append_images=frames[1:])


@pytest.mark.parametrize(
    ("make", "rgb"),
    [(_cmyk, (255, 0, 0)), (_sixteen_bit, (128, 128, 128)), (_animated, (255, 0, 0))],
    ids=["cmyk-jpeg", "16-bit-grey-png", "animated-gif-first-frame"],
)
def test_unusual_but_valid_images_load_as_the_rgb_they_show(make, rgb, tmp_path, capsys):
    """CMYK, 16-bit and animated files are images, not bad input: they read as RGB (16-bit
    grey scaled to 8 bits, not clipped to white; the first frame of an animation)."""
    make(tmp_path / "img.png")
    loaded = ImageRoot(tmp_path).load("img.png")
    assert loaded.mode == "RGB" and loaded.getpixel((4, 4)) == pytest.approx(rgb, abs=2)
    data = jsonl(Env(tmp_path, tmp_path, tmp_path), {**ROW, "image": "img.png"}, UNSAFE)
    assert main(["audit", str(data), "--min-count", "1", "--out", str(tmp_path / "a")]) == 0


@pytest.mark.parametrize(
    ("argv", "make_out", "names"),
    [
        (
            lambda w, b: ["attack", "--data", str(w / "test.jsonl"), "--triggers", "what"],
            lambda p: p.mkdir(),
            ("field '--out'", "is a directory"),
        ),
        (
            lambda w, b: ["eval", "--model", str(b), "--data", str(w / "test.jsonl")],
            lambda p: p.write_text("kept\n"),
            ("field '--out'", "not a directory"),
        ),
    ],
    ids=["attack-out-is-a-directory", "eval-out-is-a-file"],
)
def test_an_output_of_the_wrong_kind_is_one_line(
    argv, make_out, names, smoke_world, smoke_base, tmp_path, capsys
):
    out = tmp_path / "out"
    make_out(out)
    snapshot = _snapshot(out)
    capsys.readouterr()
    code = main([*argv(smoke_world, smoke_base), "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert str(out) in err[0] and all(n in err[0] for n in names), err[0]
    assert _snapshot(out) == snapshot


def test_a_prompt_longer_than_the_context_is_refused_before_generation(
    smoke_base, tmp_path, capsys
):
    """The model loads (its progress lines may show), then one error line names the file,
    the record and the field, and nothing is written."""
    data = tmp_path / "data.jsonl"
    data.write_text(json.dumps({**ROW, "query": "what " * 3000}) + "\n")
    out = tmp_path / "out"
    capsys.readouterr()
    code = main(["eval", "--model", str(smoke_base), "--data", str(data), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("unmirage eval: error: ") and str(data) in last, last
    assert "record a" in last and "field 'query'" in last and "context holds" in last
    assert not out.exists()


def test_a_hub_id_without_network_fails_in_one_line(tmp_path, capsys, monkeypatch):
    """No minutes of retries: the Hub is found unreachable at once and the model is not in
    the local cache."""
    from unmirage.models import loading

    monkeypatch.setattr(loading, "hub_reachable", lambda timeout=3.0: False)
    data = tmp_path / "data.jsonl"
    data.write_text(json.dumps(ROW) + "\n")
    capsys.readouterr()
    code = main(
        [
            "eval",
            "--model",
            "no-such-org/no-such-model",
            "--data",
            str(data),
            "--out",
            str(tmp_path / "out"),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert "no-such-org/no-such-model" in err[0] and "Hub cannot be reached" in err[0]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["eval", "gcg"])
def test_the_model_is_checked_before_the_data_it_will_read(command, tmp_path, capsys):
    """Both are missing: the error names the model, the first thing to fix."""
    data, model = tmp_path / "nodata.jsonl", tmp_path / "nomodel"
    argv = {
        "eval": ["eval", "--model", str(model), "--data", str(data)],
        "gcg": ["gcg", str(model), "--queries", str(data)],
    }[command]
    capsys.readouterr()
    code = main([*argv, "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and str(model) in err[0], err


def test_ctrl_c_after_the_output_is_complete_exits_0(tmp_path, monkeypatch, capsys):
    """An interrupt that lands once the command has written its output (here: while the
    output lock is released) keeps the command's own exit status; one before it gives 130."""
    import contextlib

    import unmirage.cli

    data = tmp_path / "d.jsonl"
    rows = [
        {"id": f"r{i}", "query": f"{w} is it {i}?", "label": label}
        for i, (w, label) in enumerate([("What", "safe"), ("Share", "unsafe")] * 4)
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))

    @contextlib.contextmanager
    def interrupted_release(out):
        yield
        raise KeyboardInterrupt

    monkeypatch.setattr(unmirage.cli, "output_lock", interrupted_release)
    out = tmp_path / "audit"
    assert main(["audit", str(data), "--no-images", "--out", str(out)]) == 0
    assert (out / "audit.json").is_file()
    assert "interrupted" not in capsys.readouterr().err

    def interrupted_run(args):
        raise KeyboardInterrupt

    monkeypatch.setattr("unmirage.commands.audit.run", interrupted_run)
    assert main(["audit", str(data), "--no-images", "--out", str(tmp_path / "cut")]) == 130
    assert capsys.readouterr().err.strip() == "unmirage audit: interrupted"
