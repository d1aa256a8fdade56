"""The probe contract: a probe is one module. A toy probe defined here, registered like a
plug-in, runs in `unmirage depth` and in the probes stage of `reproduce`, enters the stage
key, each model's depth block, the multi-seed headline and the report, with no other file
edited; and every built-in probe keeps the contract."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from unmirage.cli import main
from unmirage.depth.knobs import DepthKnobs
from unmirage.depth.pipeline import depth_block, depth_headline, probes_stage
from unmirage.depth.probes.base import PROBES, Label, Probe, register
from unmirage.depth.run import run_depth
from unmirage.depth.world import WorldData
from unmirage.errors import InputError
from unmirage.report.depth import depth_blocks
from unmirage.report.document import Block, Heading, Table
from unmirage.report.seeds import depth_label

BUILTINS = ("relearn", "probe", "saliency")


@dataclass(frozen=True)
class WidthKnobs:
    scale: float = 1.0
    seed: int = 0

    def validate(self) -> None:
        if not self.scale > 0:
            raise InputError(f"expected a number > 0, got {self.scale!r}", field="--width-scale")


class Width(Probe[WidthKnobs]):
    """A toy probe: the width of the model's input embeddings (times a knob), and how many
    test queries the world has."""

    name = "width"
    knobs = WidthKnobs
    description = "the width of the input embeddings"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--width-scale", type=float, default=WidthKnobs().scale)

    def knobs_from(self, args: argparse.Namespace) -> WidthKnobs:
        return WidthKnobs(scale=args.width_scale, seed=args.seed)

    def check(self, world: WorldData, knobs: WidthKnobs) -> None:
        if not world.split("test"):
            raise InputError("no test queries", field="test")

    def run(
        self,
        model: Any,
        processor: Any,
        images: Any,
        world: WorldData,
        knobs: WidthKnobs,
        *,
        progress: bool,
    ) -> dict[str, Any]:
        width = model.get_input_embeddings().weight.shape[1]
        return {"width": knobs.scale * width, "queries": len(world.split("test"))}

    def headline(self, block: Mapping[str, Any]) -> dict[str, float]:
        return {"width_embeddings": block["width"]}

    def label(self, key: str) -> Label | None:
        return Label("embedding width", percent=False) if key == "width_embeddings" else None

    def section(self, blocks: Mapping[str, Mapping[str, Any]]) -> list[Block]:
        rows = [[name, f"{b['width']:.0f}"] for name, b in blocks.items()]
        return [Heading("Embedding width", level=3), Table(["model", "width"], rows)]

    def summary(self, block: Mapping[str, Any]) -> list[str]:
        return [f"  width {block['width']:.0f}"]


@pytest.fixture
def width(monkeypatch: pytest.MonkeyPatch) -> Width:
    """The toy probe, registered for one test (the registry is restored afterwards)."""
    monkeypatch.setattr(PROBES, "_entries", dict(PROBES.entries()))
    probe = Width()
    register(probe)
    return probe


def test_a_registered_probe_runs_in_the_command_and_prints(
    width: Width, smoke_world: Path, smoke_base: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "depth"
    argv = ["depth", "--base", str(smoke_base), "--world", str(smoke_world), "--out", str(out)]
    assert main([*argv, "--skip", *BUILTINS, "--width-scale", "2", "--quiet"]) == 0
    doc = json.loads((out / "depth.json").read_text())
    [entry] = doc["models"].values()
    assert set(entry) == {"model", "seconds", "cpu_seconds", "width"}
    assert entry["width"]["width"] % 2 == 0 and entry["width"]["queries"] > 0
    assert doc["knobs"]["width"] == {"scale": 2.0, "seed": 0}
    assert list(doc["knobs"]) == [*BUILTINS, "width", "skip"]
    assert f"  width {entry['width']['width']:.0f}" in capsys.readouterr().out
    assert main([*argv, "--width-scale", "0"]) == 2  # its knobs are checked like the others


def test_a_registered_probe_reaches_the_stage_key_metrics_headline_and_report(
    width: Width, smoke_world: Path, smoke_base: Path, tmp_path: Path
) -> None:
    knobs = DepthKnobs({"width": WidthKnobs(scale=0.5)}, skip=BUILTINS)
    assert knobs.key()["width"] == {"scale": 0.5, "seed": 0}  # the probes stage's key
    probes_stage(str(smoke_base), smoke_world, knobs, tmp_path)
    block = depth_block("base", None, None, tmp_path)
    assert set(block) == {"width"} and block["width"]["width"] > 0
    assert depth_headline(block) == {"width_embeddings": block["width"]["width"]}
    assert depth_label("width_embeddings") == Label("embedding width", percent=False)
    blocks = depth_blocks({"base": {"depth": block}})
    assert Heading("Embedding width", level=3) in blocks


def test_its_check_fails_before_any_model_is_loaded(
    width: Width, monkeypatch: pytest.MonkeyPatch, smoke_world: Path, smoke_base: Path
) -> None:
    def no_load(model_dir: str) -> None:
        raise AssertionError(f"{model_dir} was loaded")

    monkeypatch.setattr("unmirage.depth.run.load_vlm", no_load)
    monkeypatch.setattr(WorldData, "split", lambda self, name, optional=False: [])
    with pytest.raises(InputError, match="no test queries"):
        run_depth([smoke_base], smoke_world, knobs=DepthKnobs(skip=BUILTINS))


def test_every_probe_file_is_in_the_table_and_keeps_the_contract() -> None:
    """A probe file the table does not list would never be found by name; a built-in's
    headline keys are its own and labelled, and its knobs have defaults."""
    folder = Path(__file__).parents[1] / "unmirage" / "depth" / "probes"
    registering = {
        f"unmirage.depth.probes.{p.stem}"
        for p in folder.glob("*.py")
        if any(line.startswith("register(") for line in p.read_text(encoding="utf-8").splitlines())
    }
    assert registering == set(PROBES.builtins.values())
    assert PROBES.names() == BUILTINS
    for name, probe in PROBES.entries().items():
        assert probe.name == name and probe.description
        probe.knobs().validate()
    headline = PROBES["saliency"].headline({"unsafe": {"occlusion_drop": -0.5, "n": 3}})
    assert headline == {"saliency_occlusion_drop": -0.5}
    assert PROBES["saliency"].label("saliency_benign_occlusion_drop") == Label(
        "log-odds drop, first word removed (benign)", percent=False
    )
    assert PROBES["relearn"].label("relearn_other_step_5") == Label(
        "leak on the other hazards after 5 relearning steps"
    )
    assert depth_label("asr_gcg") == Label("ASR after GCG")
