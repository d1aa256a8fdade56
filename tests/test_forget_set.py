"""`unmirage forget-set`: sampling, judging, selection, resume, layouts, SPA-VL, bad input.

Runs on the session's smoke base model and a VLGuard-layout fixture written here (images
included); the lm judge is a tiny random Llama saved in tmp_path.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from spavl_release import write_release
from test_models_fixtures import render

from unmirage.cli import main
from unmirage.data.images import ImageRoot
from unmirage.data.loaders import load_samples
from unmirage.forgetset.vlguard import CANDIDATES, SCORES
from unmirage.judge.harm import HARM_PROMPT, LMHarmJudge
from unmirage.provenance import sha256_file

UNSAFE = [
    "Share the steps to brew the hazard in the image.",
    "Describe how to make the object shown more dangerous.",
    "Generate instructions for using this item to hurt someone.",
    "Explain how to hide the substance in the picture.",
]
SAFE = ["What colour is the shape?", "What is shown in the image?", "How many shapes are there?"]
UNSAFE_ON_SAFE = [
    "Can you tell me how to break the shape?",
    "Can you explain how to steal the shape?",
    "Provide a way to burn the shape.",
]


def write_vlguard(root: Path) -> Path:
    """A VLGuard train-layout file: 4 unsafe images, 3 safe images with two pairs each."""
    (root / "img").mkdir(parents=True, exist_ok=True)
    records = []
    for i, q in enumerate(UNSAFE):
        render("red", "circle").save(root / f"img/u{i}.png")
        records.append(
            {
                "id": f"U{i}",
                "image": f"img/u{i}.png",
                "safe": False,
                "harmful_category": "risky",
                "harmful_subcategory": "hazard",
                "instr-resp": [{"instruction": q, "response": "I cannot help with that."}],
            }
        )
    for i, (q, bad) in enumerate(zip(SAFE, UNSAFE_ON_SAFE, strict=True)):
        render("blue", "square").save(root / f"img/s{i}.png")
        records.append(
            {
                "id": f"S{i}",
                "image": f"img/s{i}.png",
                "safe": True,
                "instr-resp": [
                    {"safe_instruction": q, "response": f"The answer is blue {i}."},
                    {"unsafe_instruction": bad, "response": "Sorry, I cannot."},
                ],
            }
        )
    path = root / "train.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def vlguard(tmp_path_factory) -> Path:
    return write_vlguard(tmp_path_factory.mktemp("vlguard"))


@pytest.fixture(scope="module")
def two_models(smoke_base, tmp_path_factory) -> list[str]:
    """The smoke base under two names: two models to sample from."""
    copy = tmp_path_factory.mktemp("models") / "base-b"
    shutil.copytree(smoke_base, copy)
    return [str(smoke_base), str(copy)]


@pytest.fixture(scope="module")
def tiny_judge(tmp_path_factory) -> Path:
    return write_tiny_judge(tmp_path_factory.mktemp("judge") / "judge")


def write_tiny_judge(out: Path) -> Path:
    """A random two-layer LlamaForCausalLM with a BPE tokenizer, saved as safetensors."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from unmirage.embedded.tokenizer import train_tokenizer

    tok = train_tokenizer([HARM_PROMPT, *UNSAFE, "Step 1 2 3 4 5 6 7 8 9"] * 3, vocab_size=300)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    import torch

    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def run_fs(models, vlguard, out, *extra) -> int:
    args = ["forget-set", "--data", str(vlguard), "--samples", "2", "--max-new-tokens", "6"]
    for m in models:
        args += ["--model", m]
    return main([*args, *extra, "--quiet", "--out", str(out)])


def rows(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def test_counts_selection_and_manifest(two_models, vlguard, tmp_path, capsys):
    out = tmp_path / "fs"
    assert run_fs(two_models, vlguard, out) == 0
    assert "forget 4, retain 3" in capsys.readouterr().out
    forget = json.loads((out / "forget.json").read_text())
    retain = json.loads((out / "retain.json").read_text())
    assert [r["id"] for r in forget] == [f"U{i}#unsafe_image" for i in range(4)]
    assert forget[0]["conversations"][0]["value"].startswith("<image>\n")
    assert forget[0]["image"] == "img/u0.png"
    assert [r["id"] for r in retain] == [f"S{i}#safe_safe" for i in range(3)]
    cands = rows(out / CANDIDATES)
    assert len(cands) == 4 * 2 * 2  # queries x models x samples
    assert len({(r["id"], r["model"], r["sample"]) for r in cands}) == len(cands)
    # heuristic: the selected answer is a top candidate (non-refusal, then most words)
    for rec in forget:
        mine = [c for c in cands if c["id"] == rec["id"]]
        best = max(len(c["response"].split()) for c in mine)
        chosen = rec["conversations"][1]["value"]
        assert chosen in [c["response"] for c in mine]
        assert len(chosen.split()) == best
        assert rec["unmirage"]["meta"]["model"] in two_models
    m = json.loads((out / "manifest.json").read_text())
    assert m["models"] == two_models and m["judge"]["name"] == "heuristic"
    assert m["counts"]["candidates"] == 16 and m["counts"]["forget"] == 4
    assert m["counts"]["retain"] == 3 and m["sampling"]["seed"] == 0
    assert m["inputs"]["data"] == [{"path": str(vlguard), "sha256": sha256_file(vlguard)}]
    for name, digest in m["outputs"].items():
        assert sha256_file(out / name) == digest
    assert m["image_root"] == str(vlguard.parent.resolve())
    # what align reads
    assert len(load_samples(out / "forget.json", image_root=vlguard.parent)) == 4


def test_same_seed_same_output_whatever_the_batch(smoke_base, vlguard, tmp_path):
    m = [str(smoke_base)]
    assert run_fs(m, vlguard, tmp_path / "a", "--batch-size", "8") == 0
    assert run_fs(m, vlguard, tmp_path / "b", "--batch-size", "1") == 0
    assert run_fs(m, vlguard, tmp_path / "c", "--seed", "1") == 0
    key = lambda r: (r["id"], r["sample"])  # noqa: E731
    a = sorted(rows(tmp_path / "a" / CANDIDATES), key=key)
    b = sorted(rows(tmp_path / "b" / CANDIDATES), key=key)
    c = sorted(rows(tmp_path / "c" / CANDIDATES), key=key)
    assert a == b
    assert [r["seed"] for r in a] != [r["seed"] for r in c]
    for name in ("forget.json", "retain.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_resume_after_a_kill_loses_and_duplicates_nothing(two_models, vlguard, tmp_path,
                                                          monkeypatch):  # fmt: skip
    import unmirage.models.sampling as sampling

    assert run_fs(two_models, vlguard, tmp_path / "ref", "--batch-size", "3") == 0
    real = sampling.sample_answers
    calls = []

    def killed(*args, **kw):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(1)
        return real(*args, **kw)

    monkeypatch.setattr(sampling, "sample_answers", killed)
    out = tmp_path / "fs"
    assert run_fs(two_models, vlguard, out, "--batch-size", "3") == 130
    assert not (out / "forget.json").exists()
    assert len(rows(out / CANDIDATES)) == 6
    with open(out / CANDIDATES, "a", encoding="utf-8") as f:
        f.write('{"id": "U0#unsafe_image", "model": "x", "sam')  # a write cut by the kill
    monkeypatch.setattr(sampling, "sample_answers", real)
    assert run_fs(two_models, vlguard, out, "--batch-size", "3") == 0
    got = rows(out / CANDIDATES)
    assert len(got) == 16 and len({(r["id"], r["model"], r["sample"]) for r in got}) == 16
    for name in ("forget.json", "retain.json"):
        assert (out / name).read_bytes() == (tmp_path / "ref" / name).read_bytes()
    # more samples later: only the new ones are drawn, the old ones kept
    assert run_fs(two_models, vlguard, out, "--samples", "3") == 0
    more = rows(out / CANDIDATES)
    assert len(more) == 24 and more[:16] == got


def test_lm_judge_scores_every_candidate_and_picks_the_top(smoke_base, vlguard, tiny_judge,
                                                           tmp_path, capsys):  # fmt: skip
    out = tmp_path / "fs"
    judge = ["--judge", "lm", "--judge-model", str(tiny_judge)]
    # a random judge puts almost no mass on the digits: nothing is rated with confidence
    assert run_fs([str(smoke_base)], vlguard, out, *judge) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "rated no answer with confidence" in err[-1]
    assert not (out / "forget.json").exists()
    assert run_fs([str(smoke_base)], vlguard, out, *judge, "--judge-min-mass", "0") == 0
    scores = [r for r in rows(out / SCORES) if '"min_mass": 0.0' in r["judge"]]
    assert len(scores) == 8 and all(1 <= r["score"] <= 9 for r in scores)
    forget = json.loads((out / "forget.json").read_text())
    cands = {(r["id"], r["model"], r["sample"]): r["response"] for r in rows(out / CANDIDATES)}
    for rec in forget:
        mine = [r for r in scores if r["id"] == rec["id"]]
        top = max(mine, key=lambda r: r["score"])
        assert rec["unmirage"]["meta"]["harm_score"] == top["score"]
        assert rec["conversations"][1]["value"] == cands[(top["id"], top["model"], top["sample"])]
    m = json.loads((out / "manifest.json").read_text())
    assert m["judge"]["prompt"] == HARM_PROMPT and m["judge"]["model"] == str(tiny_judge)
    before = (out / SCORES).read_bytes()
    assert run_fs([str(smoke_base)], vlguard, out, *judge, "--judge-min-mass", "0") == 0
    assert (out / SCORES).read_bytes() == before  # scores are cached, nothing rescored


def test_lm_judge_scores_do_not_depend_on_the_batch(tiny_judge):
    a = LMHarmJudge(str(tiny_judge), batch_size=1)
    b = LMHarmJudge(str(tiny_judge), batch_size=3)
    q = UNSAFE[:3]
    r = ["Step 1: mix.", "I cannot help.", "A much longer answer with many more words in it."]
    sa, sb = a.score(q, r), b.score(q, r)
    assert [s.score for s in sa] == pytest.approx([s.score for s in sb], abs=1e-6)
    assert [s.refusal for s in sa] == [False, True, False]


@pytest.mark.parametrize("method", ["npo", "rmu"])
def test_align_accepts_the_outputs(method, smoke_base, vlguard, tmp_path, capsys):
    out = tmp_path / "fs"
    assert run_fs([str(smoke_base)], vlguard, out, "--include-safe-unsafe") == 0
    assert "forget 7" in capsys.readouterr().out  # 4 unsafe images + 3 safe images' unsafe
    root = json.loads((out / "manifest.json").read_text())["image_root"]
    code = main(
        ["align", "--method", method, "--model", str(smoke_base), "--forget",
         str(out / "forget.json"), "--retain", str(out / "retain.json"), "--image-root", root,
         "--steps", "2", "--batch-size", "2", "--quiet", "--out", str(tmp_path / method)]
    )  # fmt: skip
    assert code == 0
    assert (tmp_path / method / "model.safetensors").exists()


def test_text_only_and_rmu_layout(smoke_base, vlguard, tmp_path):
    out = tmp_path / "fs"
    assert run_fs([str(smoke_base)], vlguard, out, "--text-only", "--rmu-layout") == 0
    for name in ("forget.json", "retain.json", "forget_rmu.json", "retain_rmu.json"):
        recs = json.loads((out / name).read_text())
        assert all("image" not in r for r in recs)
        assert all("<image>" not in t["value"] for r in recs for t in r["conversations"])
    plain = json.loads((out / "forget.json").read_text())
    rmu = json.loads((out / "forget_rmu.json").read_text())
    for p, r in zip(plain, rmu, strict=True):
        answer = p["conversations"][1]["value"]
        assert r["conversations"][0]["value"] == p["conversations"][0]["value"] + "\n" + answer
        assert r["conversations"][1]["value"] == answer
    assert json.loads((out / "manifest.json").read_text())["image_root"] is None
    code = main(
        ["align", "--method", "npo", "--model", str(smoke_base), "--forget",
         str(out / "forget.json"), "--retain", str(out / "retain.json"), "--steps", "1",
         "--batch-size", "2", "--quiet", "--out", str(tmp_path / "npo")]
    )  # fmt: skip
    assert code == 0


def write_llava_pool(root: Path, n: int) -> Path:
    """An instruction file in LLaVA layout under its own image root; every third record is
    text-only and every fourth has two turns."""
    (root / "coco").mkdir(parents=True)
    records = []
    for i in range(n):
        rec = {"id": f"L{i}", "conversations": [
            {"from": "human", "value": f"<image>\nDescribe picture {i}."},
            {"from": "gpt", "value": f"Picture {i} shows a shape."}]}  # fmt: skip
        if i % 3 == 0:
            rec["conversations"][0]["value"] = f"Tell me a fact number {i}."
        else:
            render("green", "circle").save(root / f"coco/{i}.png")
            rec["image"] = f"coco/{i}.png"
        if i % 4 == 0:
            rec["conversations"] += [{"from": "human", "value": "And then?"},
                                     {"from": "gpt", "value": "Nothing more."}]  # fmt: skip
        records.append(rec)
    path = root / "mix.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


def test_retain_top_up_is_seeded_and_shares_one_image_root(smoke_base, vlguard, tmp_path):
    pool = write_llava_pool(tmp_path / "llava", 30)
    extra = ["--retain-extra", str(pool), "--retain-size", "10"]
    assert run_fs([str(smoke_base)], vlguard, tmp_path / "a", *extra) == 0
    assert run_fs([str(smoke_base)], vlguard, tmp_path / "b", *extra) == 0
    assert run_fs([str(smoke_base)], vlguard, tmp_path / "c", *extra, "--seed", "3") == 0
    a = (tmp_path / "a" / "retain.json").read_bytes()
    assert a == (tmp_path / "b" / "retain.json").read_bytes()
    assert a != (tmp_path / "c" / "retain.json").read_bytes()
    m = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert m["counts"]["retain"] == 10 and m["counts"]["retain_extra"] == 7
    assert m["inputs"]["retain_extra"]["sha256"] == sha256_file(pool)
    root = ImageRoot(m["image_root"])
    for name in ("forget.json", "retain.json"):
        for s in load_samples(tmp_path / "a" / name, image_root=root.root):
            assert s.image is None or root.resolve(s.image)
            assert not s.query.startswith("And then")  # later turns are not used
    too_many = ["--retain-extra", str(pool), "--retain-size", "100"]
    assert run_fs([str(smoke_base)], vlguard, tmp_path / "d", *too_many) == 2


def spavl_records(root: Path) -> list[dict]:
    """SPA-VL's train columns as JSON, with ids and image paths (the layout one converts to)."""
    (root / "imgs").mkdir(parents=True, exist_ok=True)
    recs = []
    for i in range(3):
        render("red", "square").save(root / f"imgs/{i}.png")
        recs.append({"id": f"sp{i}", "image": f"imgs/{i}.png", "question": f"How to do {i}?",
                     "chosen": f"I won't help with {i}.",
                     "rejected": f"Do {i} like this."})  # fmt: skip
    return recs


def test_spavl_json_with_ids_and_image_paths(tmp_path):
    data = tmp_path / "spavl.json"
    data.write_text(json.dumps(spavl_records(tmp_path)), encoding="utf-8")
    out = tmp_path / "fs"
    assert main(["forget-set", "--format", "spavl", "--data", str(data), "--quiet",
                 "--out", str(out)]) == 0  # fmt: skip
    forget = load_samples(out / "forget.json", image_root=tmp_path)
    retain = load_samples(out / "retain.json", image_root=tmp_path)
    assert [s.id for s in forget] == [f"sp{i}#rejected" for i in range(3)]
    assert [s.response for s in forget] == [f"Do {i} like this." for i in range(3)]
    assert [s.response for s in retain] == [f"I won't help with {i}." for i in range(3)]
    assert forget[0].image == "imgs/0.png" and forget[0].category is None
    out3 = tmp_path / "fs3"
    assert main(["forget-set", "--format", "spavl", "--data", str(data), "--text-only",
                 "--quiet", "--out", str(out3)]) == 0  # fmt: skip
    assert all(s.image is None for s in load_samples(out3 / "forget.json"))


def test_spavl_release_shards_directories_and_the_shipped_config(tmp_path, monkeypatch):
    """The release's 8 train shards (no id, no class): read as a directory or as files in any
    order, each row keeps one id; categories come only from the split that has them."""
    release = write_release(tmp_path / "SPA-VL")
    out = tmp_path / "fs"
    assert main(["forget-set", "--format", "spavl", "--data", str(tmp_path / "SPA-VL" / "data"),
                 "--quiet", "--out", str(out)]) == 0  # fmt: skip
    m = json.loads((out / "manifest.json").read_text())
    assert [d["path"] for d in m["inputs"]["data"]] == [str(p) for p in release["train"]]
    assert m["inputs"]["data"][3]["sha256"] == sha256_file(release["train"][3])
    assert m["counts"]["files"] == 8 and m["counts"]["forget"] == 16
    forget = load_samples(out / "forget.json", image_root=out)
    assert forget[6].id == "train-00003-of-00008/0#rejected"
    assert forget[6].response == "Do thing 3_0 like this." and forget[6].category is None
    assert forget[6].image == "images/spavl-train-00003-of-00008_0.png"
    assert {s.category for s in forget} == {None}
    # shard 3 before shard 0, and the validation split (which has classes)
    shards = [release["train"][3], release["train"][0], *release["validation"]]
    out2 = tmp_path / "fs2"
    assert main(["forget-set", "--format", "spavl", "--data", *map(str, shards), "--quiet",
                 "--out", str(out2)]) == 0  # fmt: skip
    forget2 = {s.id: s for s in load_samples(out2 / "forget.json", image_root=out2)}
    for s in forget[:2] + forget[6:8]:
        assert forget2[s.id].response == s.response and forget2[s.id].query == s.query
    validation = forget2["validation-00000-of-00001/1#rejected"]
    assert validation.category == "Physical Harm/Poison/toxins"
    # the shipped config names the directory the release downloads to
    config = Path(__file__).resolve().parents[1] / "configs" / "forget-set" / "spavl.yaml"
    monkeypatch.chdir(tmp_path)
    assert main(["forget-set", "--config", str(config), "--retain-size", "4", "--quiet",
                 "--out", "fs3"]) == 0  # fmt: skip
    m3 = json.loads((tmp_path / "fs3" / "manifest.json").read_text())
    assert m3["counts"]["forget"] == 16 and m3["counts"]["retain"] == 4
    assert m3["outputs"]["forget.json"] == m["outputs"]["forget.json"]


def one_error_line(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    err = [x for x in lines if not x.startswith("Loading weights")]
    assert len(err) == 1, err
    assert err[0].startswith("unmirage forget-set: error: ")
    return err[0]


def test_bad_input_exits_2_with_one_line_and_writes_nothing(smoke_base, vlguard, tmp_path,
                                                            capsys):  # fmt: skip
    records = json.loads(vlguard.read_text())
    bad = tmp_path / "bad"
    bad.mkdir()
    shutil.copytree(vlguard.parent / "img", bad / "img")

    def variant(name: str, recs: list) -> Path:
        path = bad / name
        path.write_text(json.dumps(recs), encoding="utf-8")
        return path

    missing_image = variant("missing.json", [{**records[0], "image": "img/nope.png"}])
    no_instruction = variant(
        "noinstr.json", [{**records[0], "instr-resp": [{"response": "I cannot."}]}]
    )
    empty_instruction = variant(
        "empty.json", [{**records[0], "instr-resp": [{"instruction": " ", "response": "x"}]}]
    )
    only_safe = variant("safe.json", [records[-1]])
    not_a_model = tmp_path / "not-a-model"
    not_a_model.mkdir()
    (not_a_model / "weights.txt").write_text("no")
    m = ["--model", str(smoke_base)]
    cases = [
        ([*m, "--data", str(missing_image)], "field 'image': image 'img/nope.png' not found"),
        ([*m, "--data", str(no_instruction)], "field 'instr-resp[0]'"),
        ([*m, "--data", str(empty_instruction)], "field 'instr-resp[0].instruction'"),
        ([*m, "--data", str(only_safe)], "no unsafe instruction"),
        ([*m, "--data", str(vlguard), "--judge", "lm", "--judge-model", str(not_a_model)],
         "no config.json"),
        ([*m, "--data", str(vlguard), "--judge", "lm", "--judge-model", str(smoke_base)],
         "not a causal language model"),
        ([*m, "--data", str(vlguard), "--judge", "lm"], "needs a causal LM"),
        (["--model", str(tmp_path / "nope"), "--data", str(vlguard)], "model directory not found"),
        ([*m, *m, "--data", str(vlguard)], "the same model is given twice"),
        (["--data", str(vlguard)], "give at least one --model"),
        ([*m, "--data", str(vlguard), "--top-p", "0"], "field '--top-p'"),
        ([*m, "--data", str(vlguard), "--retain-size", "9"], "give --retain-extra"),
        (["--format", "spavl", "--data", str(vlguard)], "field 'question'"),
        ([*m, "--data", str(vlguard), str(vlguard)], "field '--data': VLGuard's train split"),
        (["--format", "spavl", "--data", str(vlguard.parent / "img")], "no SPA-VL file"),
    ]  # fmt: skip
    out = tmp_path / "out"
    for args, expected in cases:
        assert main(["forget-set", *args, "--quiet", "--out", str(out)]) == 2, args
        line = one_error_line(capsys)
        assert expected in line, (args, line)
        assert not out.exists(), args


def test_shipped_configs_are_valid():
    from unmirage.commands.forget_set import read_config

    configs = sorted(Path(__file__).parent.parent.glob("configs/forget-set/*.yaml"))
    assert configs
    for path in configs:
        assert read_config(str(path))


def test_config_file_then_flags(smoke_base, vlguard, tmp_path, capsys):
    cfg = tmp_path / "fs.yaml"
    cfg.write_text(
        f"models: [{smoke_base}]\ndata: {vlguard}\nsamples: 1\nmax-new-tokens: 4\nseed: 2\n",
        encoding="utf-8",
    )
    out = tmp_path / "fs"
    assert main(["forget-set", "--config", str(cfg), "--samples", "2", "--quiet",
                 "--out", str(out)]) == 0  # fmt: skip
    m = json.loads((out / "manifest.json").read_text())
    assert m["sampling"]["samples"] == 2 and m["sampling"]["max_new_tokens"] == 4
    assert m["sampling"]["seed"] == 2 and m["models"] == [str(smoke_base)]
    cfg.write_text("sample: 3\n", encoding="utf-8")
    assert main(["forget-set", "--config", str(cfg), "--out", str(tmp_path / "x")]) == 2
    cfg.write_text("data: [1, 2]\n", encoding="utf-8")
    assert main(["forget-set", "--config", str(cfg), "--out", str(tmp_path / "x")]) == 2
    assert f"{cfg}: field 'data': expected a string" in capsys.readouterr().err
