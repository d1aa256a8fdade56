"""The command line starts at once: building the parser and printing any help loads no deep
learning or plotting library, and `unmirage audit` runs without torch.

Each check runs in a fresh interpreter, since this test process has long loaded torch."""

import json
import subprocess
import sys

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
    """`unmirage align --help` names the methods, their summaries and run lengths as the
    method classes have them, read from their source without importing them."""
    from unmirage.commands.method_catalog import method_catalog
    from unmirage.methods import METHODS

    catalog = {m.name: m for m in method_catalog()}
    assert set(catalog) == set(METHODS)
    for name, cls in METHODS.items():
        assert catalog[name].summary == cls.summary != ""
        assert catalog[name].run_length == dict(cls.run_length)
    with pytest.raises(SystemExit):
        main(["align", "--help"])
    text = capsys.readouterr().out
    for name, cls in METHODS.items():
        assert f"  {name:<9} {cls.summary}" in text
    assert "sft 2 epochs" in text and "simnpo 150 steps" in text


def test_a_new_method_file_joins_the_catalog(tmp_path, monkeypatch):
    """A method is one file: the catalog finds a new one by its decorator and literals."""
    import importlib.util

    from unmirage.commands import method_catalog as catalog_module

    folder = tmp_path / "methods"
    folder.mkdir()
    (folder / "ascent.py").write_text(
        "@register('ascent')\nclass Ascent(Unlearning):\n"
        "    summary: ClassVar[str] = 'gradient ascent'\n"
        "    run_length: ClassVar[dict] = {'steps': 7}\n",
        encoding="utf-8",
    )
    spec = importlib.util.spec_from_loader("unmirage.methods", loader=None, is_package=True)
    spec.submodule_search_locations = [str(folder)]
    monkeypatch.setattr(catalog_module.importlib.util, "find_spec", lambda name: spec)
    [entry] = catalog_module.method_catalog()
    assert (entry.name, entry.summary) == ("ascent", "gradient ascent")
    assert entry.run_length == {"steps": 7}
