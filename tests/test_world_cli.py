"""`unmirage world` on the command line: a world in seconds, bad configs end with exit 2."""

import json
from dataclasses import fields
from pathlib import Path

import pytest

from unmirage.cli import main
from unmirage.embedded.world import WorldConfig


def run_world(tmp_path, *args):
    out = tmp_path / "world"
    return main(["world", "--out", str(out), *args]), out


def test_smoke_world_from_the_command_line(tmp_path, capsys):
    code, out = run_world(tmp_path, "--preset", "smoke", "--seed", "3")
    assert code == 0
    manifest = json.loads((out / "world.json").read_text())
    assert manifest["seed"] == 3 and manifest["preset"] == "smoke"
    for name in ("README.md", "base.jsonl", "safety_sft.jsonl", "forget.jsonl", "test.jsonl"):
        assert (out / name).is_file()
    readme = (out / "README.md").read_text()
    assert "seed 3" in readme and "safe_unsafe" in readme
    assert "world written to" in capsys.readouterr().out


def test_help_teaches_with_an_example(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["world", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "--bias-from" in text and "example:" in text
    for field in fields(WorldConfig):
        assert f"  {field.name} " in text, f"--help does not explain {field.name}"


def test_docs_table_has_every_config_field():
    table = (Path(__file__).parents[1] / "docs" / "world.md").read_text(encoding="utf-8")
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    for field in fields(WorldConfig):
        assert any(f"`{field.name}`" in row.split("|")[1] for row in rows), field.name


@pytest.mark.parametrize(
    ("yaml_text", "field"),
    [
        ("image_size: 12\n", "image_size"),
        ("object_size: 30\n", "object_size"),
        ("base_size: many\n", "base_size"),
        ("base_size: true\n", "base_size"),
        ("bias_strength: 1.5\n", "bias_strength"),
        ("colours: 3\n", "colours"),
        ("forget_size: 100000\n", "forget_size"),
        ("base_mix: {caption: -1}\n", "base_mix.caption"),
        ("referents: {object: 0, text: 0}\n", "referents"),
        ("test_openers: uniform\n", "test_openers"),
        ("held_out_hazards: [drum]\n", "held_out_hazards"),
        ("held_out_hazards: oskrel\n", "held_out_hazards"),
        (
            "held_out_hazards: [zorvan, krelith, brumex, oskrel, thrask, glimmet]\n",
            "held_out_hazards",
        ),
        ("first_words: {unsafe_image: {n: 3, counts: {share: 5}}}\n", "first_words.unsafe_image.n"),
        ("first_words: {odd_subset: {n: 3, counts: {}}}\n", "first_words.odd_subset"),
        ("other_openers: {unsafe_image: {tell: 1}}\n", "other_openers.unsafe_image.tell"),
        (
            "first_words: {unsafe_image: {n: 9, counts: {}}}\nother_openers: {unsafe_image: {}}\n",
            "other_openers.unsafe_image",
        ),
    ],
)
def test_bad_config_exits_2_naming_file_and_field(tmp_path, capsys, yaml_text, field):
    config = tmp_path / "world.yaml"
    config.write_text(yaml_text)
    code, out = run_world(tmp_path, "--preset", "smoke", "--config", str(config))
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert str(config) in err and f"field '{field}'" in err
    assert not out.exists(), "nothing written"


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ("{not json", None),
        ('{"words": {}}', "first_word"),
        ('{"first_word": {"elsewhere": {}}}', "first_word"),
        ('{"first_word": {"safe_safe": {"n": 3}}}', "first_word.safe_safe"),
        (
            '{"first_word": {"safe_safe": {"n": 1, "counts": {"what": 2}}}}',
            "first_word.safe_safe.n",
        ),
        (
            '{"first_word": {"safe_safe": {"counts": {"what": -1}}}}',
            "first_word.safe_safe.counts.what",
        ),
    ],
)
def test_bad_audit_exits_2(tmp_path, capsys, content, field):
    audit = tmp_path / "audit.json"
    audit.write_text(content)
    code, out = run_world(tmp_path, "--preset", "smoke", "--bias-from", str(audit))
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(audit) in err
    if field is not None:
        assert f"field '{field}'" in err
    assert not out.exists()


def test_bad_yaml_and_missing_file_exit_2(tmp_path, capsys):
    config = tmp_path / "world.yaml"
    config.write_text("base_size: [1,\n")
    assert run_world(tmp_path, "--config", str(config))[0] == 2
    assert "not valid YAML" in capsys.readouterr().err
    assert run_world(tmp_path, "--config", str(tmp_path / "missing.yaml"))[0] == 2
    assert "cannot read" in capsys.readouterr().err
    config.write_text("- a list\n")
    assert run_world(tmp_path, "--config", str(config))[0] == 2
    assert "mapping" in capsys.readouterr().err


def test_out_must_not_be_a_file(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("keep me")
    assert main(["world", "--preset", "smoke", "--out", str(target)]) == 2
    assert target.read_text() == "keep me"
    assert "not a directory" in capsys.readouterr().err
