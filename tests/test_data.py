"""Loaders, writers and image confinement on small fixtures written here."""

from __future__ import annotations

import dataclasses
import json
import random
import struct
import zlib
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from unmirage.cli import main
from unmirage.data import (
    ImageRoot,
    Sample,
    detect_format,
    load_samples,
    write_jsonl,
    write_llava_json,
)
from unmirage.data.images import Images, parse_roots, root_for
from unmirage.errors import InputError
from unmirage.io import lock_path


def png(path: Path, size: tuple[int, int] = (4, 4), mode: str = "RGB") -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size).save(path)
    return path.name


def png_header(path: Path, width: int, height: int) -> None:
    """A PNG whose header claims width x height but holds no pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


def vlguard_records() -> list[dict]:
    return [
        {
            "id": "ads_1",
            "image": "img/a.png",
            "safe": True,
            "instr-resp": [
                {"safe_instruction": "What is advertised?", "response": "A bicycle."},
                {"unsafe_instruction": "Can you forge this ad?", "response": "I'm sorry, no."},
            ],
        },
        {
            "id": "hod_2",
            "image": "img/b.png",
            "safe": False,
            "harmful_category": "risky behavior",
            "harmful_subcategory": "violence",
            "instr-resp": [{"instruction": "Share how to do this.", "response": "I cannot."}],
        },
    ]


def write_json(path: Path, obj: object) -> Path:
    path.write_text(json.dumps(obj), encoding="utf-8")
    return path


@pytest.fixture
def vlguard_file(tmp_path: Path) -> Path:
    png(tmp_path / "img/a.png")
    png(tmp_path / "img/b.png")
    return write_json(tmp_path / "vlguard.json", vlguard_records())


def test_vlguard_layout(vlguard_file: Path) -> None:
    samples = load_samples(vlguard_file)
    assert [s.id for s in samples] == ["ads_1#safe_safe", "ads_1#safe_unsafe", "hod_2#unsafe_image"]
    assert [s.label for s in samples] == ["safe", "unsafe", "unsafe"]
    safe, unsafe_instr, unsafe_image = samples
    assert safe.query == "What is advertised?" and safe.response == "A bicycle."
    assert safe.image == unsafe_instr.image == "img/a.png"
    assert safe.category is None and unsafe_instr.category is None
    assert unsafe_image.category == "risky behavior/violence"
    assert {s.source for s in samples} == {"vlguard:vlguard.json"}
    assert load_samples(vlguard_file, source="mine")[0].source == "mine"


def test_one_rewrite_layout_keeps_original_ids(tmp_path: Path) -> None:
    records = [
        {
            "id": "ads_1",
            "image": "a.png",
            "safe": True,
            "instr-resp": [{"safe_instruction": "Share it."}],
        },
        {
            "id": "hod_2",
            "image": "b.png",
            "safe": False,
            "instr-resp": [
                {"instruction": "What steps does this take?"},
                {"instruction": "What is the method here?"},
            ],
        },
    ]
    path = write_json(tmp_path / "what.json", records)
    samples = load_samples(path, "vlguard", check_images=False)
    assert [s.id for s in samples] == [
        "ads_1#safe_safe",
        "hod_2#unsafe_image",
        "hod_2#unsafe_image.1",
    ]
    assert all(s.response is None for s in samples)
    assert samples[1].category is None


def test_llava_layout(tmp_path: Path) -> None:
    png(tmp_path / "x.png")
    records = [
        {
            "id": 7,
            "image": "x.png",
            "conversations": [
                {"from": "human", "value": "<image>\nWhat is this?"},
                {"from": "gpt", "value": "A cat."},
                {"from": "human", "value": "Share its owner's address."},
                {"from": "gpt", "value": "I'm sorry, I can't."},
            ],
        },
        {
            "id": "t",
            "conversations": [{"from": "human", "value": "Describe it\n<image>"}],
        },
    ]
    samples = load_samples(write_json(tmp_path / "llava.json", records))
    assert [(s.id, s.query, s.response) for s in samples] == [
        ("7#0", "What is this?", "A cat."),
        ("7#1", "Share its owner's address.", "I'm sorry, I can't."),
        ("t", "Describe it", None),
    ]
    assert all(s.label is None and s.subset is None for s in samples)
    assert samples[0].image == "x.png" and samples[2].image is None


def round_trip_samples() -> list[Sample]:
    return [
        Sample(
            "a",
            "Was ist das? ü",
            "Ein Hund.",
            "img/a.png",
            "safe",
            "safe_safe",
            None,
            "w",
            {"task": "benign"},
        ),
        Sample(
            "b",
            "Share the steps.",
            None,
            None,
            "unsafe",
            None,
            "hazard",
            "w",
            {"leak_markers": ["x"]},
        ),
        Sample("c", " spaced query ", "ok"),
    ]


@pytest.mark.parametrize("writer,name", [(write_jsonl, "s.jsonl"), (write_llava_json, "s.json")])
def test_writers_round_trip(tmp_path: Path, writer, name: str) -> None:
    png(tmp_path / "img/a.png")
    samples = round_trip_samples()
    writer(samples, tmp_path / name)
    assert load_samples(tmp_path / name) == samples
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_detect_format(tmp_path: Path, vlguard_file: Path) -> None:
    text = vlguard_file.read_text()
    assert detect_format(vlguard_file, text) == "vlguard"
    write_llava_json(round_trip_samples(), tmp_path / "l.json")
    assert detect_format(tmp_path / "l.json", (tmp_path / "l.json").read_text()) == "llava"
    assert detect_format(Path("x.txt"), '{"id": "a"}\n') == "jsonl"
    assert detect_format(Path("x.jsonl"), "[]") == "jsonl"
    with pytest.raises(InputError, match="neither"):
        detect_format(Path("x.json"), '[{"id": "a"}]')


def test_jsonl_fields_are_checked(tmp_path: Path) -> None:
    good = {"id": "a", "query": "q", "label": "safe"}
    bad = [
        ({**good, "lable": "safe"}, "lable", "unknown field"),
        ({"query": "q"}, "id", "missing field"),
        ({**good, "query": 3}, "query", "expected a string"),
        ({**good, "label": "maybe"}, "label", "unknown value"),
        ({**good, "subset": "unsafe_image"}, "label", "contradicts"),
        ({**good, "meta": []}, "meta", "expected an object"),
    ]
    for obj, field, message in bad:
        path = tmp_path / "s.jsonl"
        path.write_text(json.dumps(good) + "\n\n" + json.dumps(obj) + "\n")
        with pytest.raises(InputError, match=message) as err:
            load_samples(path)
        assert (err.value.field, err.value.record) == (
            field,
            "1 (line 3)" if field == "id" else "1 (line 3, id a)",
        )


def test_image_root_confinement(tmp_path: Path) -> None:
    root = tmp_path / "root"
    png(root / "in.png")
    png(tmp_path / "outside.png")
    (root / "link_out.png").symlink_to(tmp_path / "outside.png")
    (root / "link_in.png").symlink_to(root / "in.png")
    images = ImageRoot(root)
    assert images.resolve("link_in.png") == (root / "in.png").resolve()
    assert images.load("in.png").mode == "RGB"
    for rel, message in [
        ("../outside.png", r"leaves the image root"),
        ("sub/../../outside.png", r"leaves the image root"),
        (str(tmp_path / "outside.png"), "absolute path"),
        ("link_out.png", "outside the image root"),
        ("missing.png", "not found"),
        ("", "non-empty"),
    ]:
        with pytest.raises(InputError, match=message) as err:
            images.resolve(rel, file="d.json", record=3)
        assert (err.value.file, err.value.record, err.value.field) == ("d.json", 3, "image")


def test_each_file_s_images_resolve_against_its_own_root(tmp_path: Path) -> None:
    """Two files with a same-named image in different folders: each sample carries its file's
    root, so one `Images` opens both right in one batch; the root is never written out."""
    for folder, colour in (("a", (255, 0, 0)), ("b", (0, 0, 255))):
        (tmp_path / folder).mkdir()
        Image.new("RGB", (4, 4), colour).save(tmp_path / folder / "x.png")
        record = {"id": folder, "query": "What colour?", "response": "x", "image": "x.png"}
        (tmp_path / f"{folder}.jsonl").write_text(json.dumps(record) + "\n")
    a = load_samples(tmp_path / "a.jsonl", image_root=tmp_path / "a")
    b = load_samples(tmp_path / "b.jsonl", image_root=tmp_path / "b")
    images = Images(cache=True)
    pixels = [images.load(s).getpixel((0, 0)) for s in (*a, *b)]
    assert pixels == [(255, 0, 0), (0, 0, 255)]
    assert "image_root" not in a[0].to_dict()
    assert a[0] == dataclasses.replace(a[0], image_root=None)  # the root is not content
    with pytest.raises(InputError, match="no image root") as err:
        Images().load(dataclasses.replace(a[0], image_root=None))
    assert (err.value.record, err.value.field) == ("a", "image")
    bad = {"id": "c", "query": "q", "image": "x.png", "image_root": "/etc"}
    (tmp_path / "c.jsonl").write_text(json.dumps(bad) + "\n")
    with pytest.raises(InputError, match="unknown field") as err:
        load_samples(tmp_path / "c.jsonl")
    assert err.value.field == "image_root"  # a data file cannot choose its root


def test_image_root_rule(tmp_path: Path) -> None:
    files = ["data/vlguard.json", "llava.json"]
    assert parse_roots(None, files) is None
    assert parse_roots(["imgs"], files) == "imgs"
    rule = parse_roots(["llava.json=coco", "./data/vlguard.json=vg", "all=imgs"], files)
    assert rule == {"llava.json": "coco", "data/vlguard.json": "vg", "*": "all=imgs"}
    assert root_for(rule, Path("data/vlguard.json")) == Path("vg")
    assert root_for(rule, "other.json") == Path("all=imgs")  # not a file given: a directory
    assert root_for({"llava.json": "coco"}, "other.json") is None  # the file's own directory
    with pytest.raises(InputError, match="not two") as err:
        parse_roots(["a", "b"], files)
    assert err.value.field == "--image-root"
    with pytest.raises(InputError, match="names no directory"):
        parse_roots(["llava.json="], files)


def test_image_caps_and_unreadable(tmp_path: Path) -> None:
    noise = random.Random(0).randbytes(64 * 64 * 3)
    Image.frombytes("RGB", (64, 64), noise).save(tmp_path / "big.png")
    png(tmp_path / "gray.png", (8, 8), mode="L")
    (tmp_path / "junk.png").write_bytes(b"not an image at all")
    png_header(tmp_path / "claims_huge.png", 5000, 5000)
    png_header(tmp_path / "bomb.png", 100_000, 100_000)
    images = ImageRoot(tmp_path, max_pixels=32 * 32)
    assert images.load("gray.png").mode == "RGB"
    with pytest.raises(InputError, match="over the cap of 1024"):
        images.check("big.png")
    with pytest.raises(InputError, match="over the cap of 100 bytes"):
        ImageRoot(tmp_path, max_bytes=100).check("big.png")
    with pytest.raises(InputError, match="not a readable image"):
        images.check("junk.png")
    # Only the header is read: a claimed 25M-pixel image is refused by the default cap.
    with pytest.raises(InputError, match="25000000 pixels, over the cap"):
        ImageRoot(tmp_path).check("claims_huge.png")
    with pytest.raises(InputError, match="decompression bomb"):
        ImageRoot(tmp_path).check("bomb.png")


def test_loader_checks_images_against_root(tmp_path: Path, vlguard_file: Path) -> None:
    (vlguard_file.parent / "img/b.png").unlink()
    with pytest.raises(InputError, match="not found") as err:
        load_samples(vlguard_file)
    assert (err.value.record, err.value.field) == ("1 (id hod_2)", "image")
    assert len(load_samples(vlguard_file, check_images=False)) == 3
    png(tmp_path / "other/img/a.png")
    png(tmp_path / "other/img/b.png")
    assert len(load_samples(vlguard_file, image_root=tmp_path / "other")) == 3


def test_real_vlguard_test_split(vlguard_test: Path) -> None:
    samples = load_samples(vlguard_test, check_images=False)
    assert len(samples) == 1558
    assert Counter(s.subset for s in samples) == {
        "safe_safe": 558,
        "safe_unsafe": 558,
        "unsafe_image": 442,
    }
    assert Counter(s.label for s in samples) == {"safe": 558, "unsafe": 1000}
    assert all(s.response is not None for s in samples)
    assert sum(1 for s in samples if s.response == "") == 17  # empty answers in the data
    # Images are not shipped with the annotations: checking them must fail clearly.
    with pytest.raises(InputError, match="not found") as err:
        load_samples(vlguard_test)
    assert err.value.field == "image" and err.value.record == "0 (id Ads_306373)"


def bad_inputs(tmp: Path) -> dict[str, tuple[Path, str | None, str | None, str]]:
    """name -> (data file, record named in the error, field named, message part)."""
    png(tmp / "data/img/a.png")
    png(tmp / "data/img/b.png")
    (tmp / "data/img/junk.png").write_bytes(b"junk")
    png_header(tmp / "data/img/huge.png", 5000, 5000)
    png(tmp / "outside.png")
    records = vlguard_records()

    def vlguard(name: str, edit) -> Path:
        recs = json.loads(json.dumps(records))
        edit(recs[1])
        return write_json(tmp / "data" / name, recs)

    (tmp / "data/empty.json").write_text("\n")
    (tmp / "data/syntax.json").write_text('[{"id": "a",}]')
    (tmp / "data/syntax.jsonl").write_text('{"id": "a", "query": "q"}\n{"id": "b" "query": "q"}\n')
    (tmp / "data/subset.jsonl").write_text('{"id": "a", "query": "q", "subset": "both"}\n')
    (tmp / "data/label.jsonl").write_text('{"id": "a", "query": "q", "label": 1}\n')
    rec = "1 (id hod_2)"
    return {
        "empty": (tmp / "data/empty.json", None, None, "empty file"),
        "syntax": (tmp / "data/syntax.json", None, None, "invalid JSON at line 1 column 13"),
        "syntax_jsonl": (tmp / "data/syntax.jsonl", "1 (line 2)", None, "line 2 column 12"),
        "missing": (vlguard("missing.json", lambda r: r.pop("safe")), rec, "safe", "missing"),
        "mistyped": (
            vlguard("typed.json", lambda r: r.update(safe="no")),
            rec,
            "safe",
            "expected true or false",
        ),
        "no_instruction": (
            vlguard("instr.json", lambda r: r["instr-resp"][0].pop("instruction")),
            rec,
            "instr-resp[0]",
            "exactly one of",
        ),
        "subset": (tmp / "data/subset.jsonl", "0 (line 1, id a)", "subset", "unknown value"),
        "label": (tmp / "data/label.jsonl", "0 (line 1, id a)", "label", "unknown value"),
        "image_missing": (
            vlguard("m.json", lambda r: r.update(image="img/none.png")),
            rec,
            "image",
            "not found",
        ),
        "image_unreadable": (
            vlguard("u.json", lambda r: r.update(image="img/junk.png")),
            rec,
            "image",
            "not a readable image",
        ),
        "image_outside": (
            vlguard("o.json", lambda r: r.update(image="../outside.png")),
            rec,
            "image",
            "leaves the image root",
        ),
        "image_too_large": (
            vlguard("l.json", lambda r: r.update(image="img/huge.png")),
            rec,
            "image",
            "over the cap",
        ),
        "duplicate_id": (
            vlguard(
                "d.json",
                lambda r: r.update(
                    id="ads_1", safe=True, **{"instr-resp": [{"safe_instruction": "x"}]}
                ),
            ),
            "1 (id ads_1)",
            "id",
            "duplicate sample id",
        ),
    }


CASES = [
    "empty",
    "syntax",
    "syntax_jsonl",
    "missing",
    "mistyped",
    "no_instruction",
    "subset",
    "label",
    "image_missing",
    "image_unreadable",
    "image_outside",
    "image_too_large",
    "duplicate_id",
]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_exits_2_with_one_line(tmp_path: Path, case: str, capsys) -> None:
    path, record, field, message = bad_inputs(tmp_path)[case]
    out = tmp_path / "out"
    assert main(["audit", str(path), "--out", str(out)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err
    line = lines[0]
    assert line.startswith(f"unmirage audit: error: {path}")
    assert message in line
    if record is not None:
        assert f"record {record}" in line
    if field is not None:
        assert f"field '{field}'" in line
    assert not out.exists()
    staged = [p for p in tmp_path.iterdir() if p.name.startswith(".out") and p != lock_path(out)]
    assert not staged
