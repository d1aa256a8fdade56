"""The command line starts at once: building the parser and printing any help loads no deep
learning or plotting library, and `unmirage audit` runs without torch.

Each check runs in a fresh interpreter, since this test process has long loaded torch."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from unmirage.cli import main
from unmirage.data import Sample, write_jsonl

HEAVY = ("torch", "transformers", "peft", "accelerate", "matplotlib", "rich", "numpy")


def run_python(code: str) -> dict:
    """Run `code` in a fresh interpreter; its last stdout line is a JSON report."""
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_building_the_parser_and_every_help_load_no_heavy_library():
    report = run_python(
        f"""
import contextlib, io, json, sys
from unmirage.cli import COMMANDS, build_parser, main
build_parser()
after_build = sorted(m for m in {HEAVY!r} if m in sys.modules)
codes = []
for argv in (["--help"], ["--version"], *([c, "--help"] for c in COMMANDS)):
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            main(argv)
        except SystemExit as exc:
            codes.append(exc.code)
after_help = sorted(m for m in {HEAVY!r} if m in sys.modules)
print(json.dumps({{"build": after_build, "help": after_help, "codes": codes,
                  "commands": len(COMMANDS)}}))
"""
    )
    assert report["build"] == []
    assert report["help"] == []
    assert report["codes"] == [0] * (report["commands"] + 2) and report["commands"] >= 9


def test_audit_runs_without_torch(tmp_path):
    samples = [
        Sample(f"a{i}", f"What is the {thing} in the image?", "It is a drum.", subset="safe_safe")
        for i, thing in enumerate(("object", "shape", "item", "thing", "drum", "colour"))
    ] + [
        Sample(f"r{i}", f"Share how to {act} it.", "I cannot help with that.", subset="safe_unsafe")
        for i, act in enumerate(("make", "build", "use", "sell", "hide", "copy"))
    ]
    data = tmp_path / "safety.jsonl"
    write_jsonl(samples, data)
    out = tmp_path / "audit"
    report = run_python(
        f"""
import contextlib, io, json, sys
from unmirage.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    rc = main(["audit", {str(data)!r}, "--no-images", "--min-count", "3", "--out", {str(out)!r}])
print(json.dumps({{"rc": rc, "loaded": sorted(m for m in ("torch", "transformers", "peft")
                                             if m in sys.modules)}}))
"""
    )
    assert report == {"rc": 0, "loaded": []}
    result = json.loads((out / "audit.json").read_text(encoding="utf-8"))
    assert result["triggers"]["compliance"]["first"][0]["word"] == "what"
    assert result["triggers"]["refusal"]["first"][0]["word"] == "share"


def test_align_help_values_match_the_methods(capsys):
    """`unmirage align --help` names the methods, their summaries and run lengths from the
    torch-free catalog, and each method class carries the same."""
    from unmirage.methods.base import METHODS
    from unmirage.methods.catalog import CATALOG

    assert [e.name for e in CATALOG] == list(METHODS.names())
    for entry in CATALOG:
        cls = METHODS.get_entry(entry.name)
        assert cls.summary == entry.summary != "" and dict(cls.run_length) == entry.run_length
        assert cls.__module__ == entry.module
    with pytest.raises(SystemExit):
        main(["align", "--help"])
    text = capsys.readouterr().out
    for entry in CATALOG:
        assert f"  {entry.name:<9} {entry.summary}" in text
    assert "sft 2 epochs" in text and "simnpo 150 steps" in text


def test_every_method_file_is_in_the_catalog():
    """A method file the catalog does not list would never be found by name."""
    from unmirage.methods.catalog import CATALOG

    folder = Path(__file__).parents[1] / "unmirage" / "methods"
    registering = {
        f"unmirage.methods.{p.stem}"
        for p in folder.glob("*.py")
        if any(line.startswith("@register(") for line in p.read_text(encoding="utf-8").splitlines())
    }
    assert registering == {e.module for e in CATALOG}
