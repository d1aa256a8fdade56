"""Safe defaults: weights from safetensors only unless --allow-pickle, no remote code unless
--trust-remote-code, nothing fetched from the network for local models (and a Hub id under
HF_HUB_OFFLINE=1 ends in one line, not a download or a traceback), images inside their root."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from unmirage.cli import main
from unmirage.data.images import ImageRoot
from unmirage.errors import InputError

ROWS = [
    {"id": "a", "query": "What colour is the object?", "response": "Red.", "label": "safe"},
    {"id": "u", "query": "How is a zorvan prepared?", "response": "I can't.", "label": "unsafe"},
]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    return path


@pytest.fixture
def pickled(smoke_base: Path, tmp_path: Path) -> Path:
    """The smoke base model with its weights as pytorch_model.bin (a pickle) only."""
    out = tmp_path / "pickled"
    shutil.copytree(smoke_base, out)
    torch.save(load_file(out / "model.safetensors"), out / "pytorch_model.bin")
    (out / "model.safetensors").unlink()
    return out


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every outgoing connection fails and is recorded."""
    attempts: list[object] = []

    def refuse(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = [x for x in err.strip().splitlines() if not x.startswith("Loading weights")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _eval(model: Path, data: Path, out: Path, *extra: str) -> list[str]:
    argv = ["eval", "--model", str(model), "--data", str(data), "--out", str(out)]
    return [*argv, "--max-new-tokens", "6", *extra]


def test_pickle_weights_are_refused_by_eval_and_align_without_the_flag(
    pickled, data, tmp_path, capsys
):
    assert main(_eval(pickled, data, tmp_path / "e")) == 2
    line = _error_line(capsys)
    assert str(pickled) in line and "pytorch_model.bin" in line and "--allow-pickle" in line
    sft = ["align", "--method", "sft", "--model", str(pickled), "--data", str(data)]
    assert main([*sft, "--steps", "1", "--quiet", "--out", str(tmp_path / "a")]) == 2
    assert "--allow-pickle" in _error_line(capsys)
    assert not (tmp_path / "e").exists() and not (tmp_path / "a").exists()


def test_allow_pickle_loads_the_same_weights(pickled, smoke_base, data, tmp_path, capsys):
    assert main(_eval(pickled, data, tmp_path / "p", "--allow-pickle")) == 0
    assert main(_eval(smoke_base, data, tmp_path / "s")) == 0

    def answers(out: Path) -> dict[str, str]:
        rows = (out / "responses.jsonl").read_text().splitlines()
        return {r["id"]: r["response"] for r in map(json.loads, rows)}

    assert answers(tmp_path / "p") == answers(tmp_path / "s")
    sft = ["align", "--method", "sft", "--model", str(pickled), "--data", str(data)]
    argv = [*sft, "--steps", "1", "--quiet", "--allow-pickle", "--out", str(tmp_path / "a")]
    assert main(argv) == 0
    assert (tmp_path / "a" / "model.safetensors").is_file()
    assert not list((tmp_path / "a").glob("*.bin"))


def test_remote_code_in_a_model_directory_never_runs_by_default(smoke_base, data, tmp_path, capsys):
    model = tmp_path / "custom"
    shutil.copytree(smoke_base, model)
    marker = tmp_path / "code-ran"
    code = f"open({str(marker)!r}, 'w').write('ran')\n"
    for name in ("configuration_custom.py", "modeling_custom.py"):
        (model / name).write_text(code)
    config = json.loads((model / "config.json").read_text())
    config["model_type"] = "custom_vlm"
    config["auto_map"] = {
        "AutoConfig": "configuration_custom.CustomConfig",
        "AutoModelForImageTextToText": "modeling_custom.CustomModel",
    }
    (model / "config.json").write_text(json.dumps(config))
    assert main(_eval(model, data, tmp_path / "e")) == 2
    assert str(model) in _error_line(capsys)
    assert not marker.exists()
    assert not (tmp_path / "e").exists()


def test_local_models_load_and_train_with_the_network_off(
    smoke_base, data, tmp_path, no_network, capsys
):
    assert main(_eval(smoke_base, data, tmp_path / "e")) == 0
    sft = ["align", "--method", "sft", "--model", str(smoke_base), "--data", str(data)]
    assert main([*sft, "--steps", "1", "--quiet", "--out", str(tmp_path / "a")]) == 0
    assert no_network == []


def test_a_hub_id_in_offline_mode_is_one_line_and_fetches_nothing(data, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    out = tmp_path / "e"
    argv = [sys.executable, "-m", "unmirage.cli", *_eval(Path("no-org/no-model"), data, out)]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    lines = [x for x in proc.stderr.strip().splitlines() if not x.startswith("Loading weights")]
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert "no-org/no-model" in lines[0]
    assert not out.exists()
    hub = tmp_path / "hf" / "hub"
    assert not hub.exists() or not any(p.is_file() for p in hub.rglob("*"))


@pytest.mark.parametrize(
    "rel",
    ["../up.png", "/etc/hostname", "C:\\\\windows\\\\x.png", "a/../../up.png", "nul\x00.png", ""],
    ids=["dotdot", "absolute", "windows-drive", "nested-dotdot", "nul-byte", "empty"],
)
def test_image_paths_stay_inside_the_root(rel, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(InputError) as err:
        ImageRoot(root).resolve(rel, file="d.jsonl", record=3)
    assert (err.value.file, err.value.record, err.value.field) == ("d.jsonl", 3, "image")


def test_a_symlinked_directory_out_of_the_root_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.png").write_bytes(b"x")
    root = tmp_path / "root"
    root.mkdir()
    (root / "linked").symlink_to(outside, target_is_directory=True)
    with pytest.raises(InputError, match="outside the image root"):
        ImageRoot(root).resolve("linked/x.png")
