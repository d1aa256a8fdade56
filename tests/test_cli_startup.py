"""The command line starts at once: building the parser and printing any help loads no deep
learning or plotting library, and `unmirage audit` runs without torch.

Each check runs in a fresh interpreter, since this test process has long loaded torch."""

import json
import subprocess
import sys

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
print(json.dumps({{"build": after_build, "help": after_help, "codes": codes}}))
"""
    )
    assert report["build"] == []
    assert report["help"] == []
    assert report["codes"] == [0] * len(report["codes"]) and len(report["codes"]) == 10


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


def test_align_help_values_match_the_methods():
    """`unmirage align --help` names the methods and their defaults without importing them."""
    from unmirage.commands import align as command
    from unmirage.methods import METHODS
    from unmirage.methods.rmu import STEER_SCALE

    assert tuple(sorted(METHODS)) == command.METHOD_NAMES
    assert METHODS["sft"].run_length["epochs"] == command.SFT_EPOCHS
    unlearning = {name: METHODS[name].run_length for name in METHODS if name != "sft"}
    assert unlearning == {name: {"steps": command.UNLEARNING_STEPS} for name in unlearning}
    assert command.RMU_STEER_SCALE == STEER_SCALE
