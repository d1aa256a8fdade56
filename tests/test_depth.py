"""The probes: relearning curves, the linear knowledge probe, trigger saliency, the command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from unmirage.cli import main
from unmirage.data.images import Images
from unmirage.depth.decision import DecisionTexts, decision_texts, grad_times_input
from unmirage.depth.probes.knowledge import (
    L2_GRID,
    KnowledgeKnobs,
    choose_l2,
    classifier_accuracy,
    default_layers,
    fact_label,
    knowledge_probe,
)
from unmirage.depth.probes.relearn import RelearnKnobs, relearn_curve, relearn_split
from unmirage.depth.probes.saliency import (
    SaliencyKnobs,
    drop_first_word,
    first_word_share,
    query_masks,
    replace_first_word,
    run_saliency,
    saliency_figure,
)
from unmirage.depth.run import model_names
from unmirage.depth.world import read_world, subsample
from unmirage.embedded.world.entities import HAZARDS
from unmirage.errors import InputError
from unmirage.models.encode import encode_prompts
from unmirage.models.loading import load_vlm
from unmirage.text import split_first_word

# relearning


def test_subsample_covering_the_facts_keeps_every_fact_and_its_size() -> None:
    """A fact two queries of 200 ask for is kept in a subsample of 20, whatever the seed."""
    from unmirage.data.sample import Sample

    def query(i: int, hazard: str) -> Sample:
        return Sample(id=f"q{i}", query="q", meta={"hazard": hazard, "intent": "steps"})

    samples = [query(i, "zorvan") for i in range(198)] + [query(198, "rare"), query(199, "rare")]
    for seed in range(20):
        picked = subsample(samples, 20, f"seed{seed}", cover=fact_label)
        assert len(picked) == 20 and any(s.meta["hazard"] == "rare" for s in picked)
        assert [s.id for s in picked] == sorted((s.id for s in picked), key=lambda x: int(x[1:]))
    assert subsample(samples, 500, "s", cover=fact_label) == samples


def test_relearn_split_is_disjoint_and_seeded(smoke_world: Path) -> None:
    data = read_world(smoke_world)
    split = relearn_split(data, RelearnKnobs(hazard="zorvan", queries=None))
    assert split.pairs and all(s.meta["hazard"] == "zorvan" for s in split.pairs)
    assert split.held_out["other"] and all(
        s.meta["hazard"] != "zorvan" for s in split.held_out["other"]
    )
    assert all(s.meta["hazard"] == "zorvan" for s in split.held_out["same"])
    assert all(s.meta["task"] == "unsafe" for g in split.held_out.values() for s in g)
    # N seeded pairs: the same for a seed, a subset of the hazard's pairs
    a = relearn_split(data, RelearnKnobs(hazard="zorvan", pairs=3, seed=1))
    b = relearn_split(data, RelearnKnobs(hazard="zorvan", pairs=3, seed=1))
    assert [s.id for s in a.pairs] == [s.id for s in b.pairs]
    assert len(a.pairs) == 3 and {s.id for s in a.pairs} <= {s.id for s in split.pairs}
    everything = relearn_split(data, RelearnKnobs(hazard="all"))
    assert len(everything.pairs) == len(data.split("forget"))
    assert list(everything.held_out) == ["same"]
    with pytest.raises(InputError, match="relearn-hazard"):
        relearn_split(data, RelearnKnobs(hazard="drum"))
    with pytest.raises(InputError, match="relearn-pairs"):
        relearn_split(data, RelearnKnobs(hazard="zorvan", pairs=10_000))


def test_relearning_lowers_the_relearn_loss_and_returns_a_curve(
    smoke_world: Path, smoke_base: Path
) -> None:
    model, processor = load_vlm(smoke_base)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    data = read_world(smoke_world)
    knobs = RelearnKnobs(steps=(0, 3, 6), hazard="krelith", queries=5, max_new_tokens=12, lr=3e-3)
    split = relearn_split(data, knobs)
    curve = relearn_curve(model, processor, split, Images(), knobs)
    assert curve["steps"] == [0, 3, 6]
    assert curve["hazard"] == "krelith" and curve["pairs"] == len(split.pairs)
    assert curve["loss"][-1] < curve["loss"][0]
    assert set(curve["leak"]) == {"other", "same"} == set(curve["refused"])
    for group in ("leak", "refused"):
        for values in curve[group].values():
            assert len(values) == 3 and all(0.0 <= v <= 1.0 for v in values)
    # the model given is left as it was: relearning trains a copy
    for n, p in model.named_parameters():
        assert torch.equal(p, before[n]), n


def test_relearn_knobs_are_checked() -> None:
    for bad, field in (
        ({"steps": (0, -1)}, "--relearn-steps"),
        ({"steps": (5, 5)}, "--relearn-steps"),
        ({"steps": ()}, "--relearn-steps"),
        ({"lr": 0.0}, "--relearn-lr"),
        ({"pairs": 0}, "--relearn-pairs"),
        ({"queries": 0}, "--relearn-queries"),
    ):
        with pytest.raises(InputError) as err:
            RelearnKnobs(**bad).validate()
        assert err.value.field == field


# knowledge probe


def blobs(n: int, classes: int, dim: int, spread: float, seed: int) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, dim, generator=gen) * 5
    y = torch.arange(n) % classes
    x = centres[y] + spread * torch.randn(n, dim, generator=gen)
    return x, y


def test_probe_separates_separable_classes_and_not_random_labels() -> None:
    x, y = blobs(240, 4, 16, 0.5, seed=0)
    xt, yt = blobs(120, 4, 16, 0.5, seed=0)
    assert classifier_accuracy(x, y, xt, yt, 4, l2=0.1) == 1.0
    # labels unrelated to the features: held-out accuracy near chance (0.25)
    gen = torch.Generator().manual_seed(1)
    noise, noise_t = torch.randn(240, 16, generator=gen), torch.randn(400, 16, generator=gen)
    labels, labels_t = torch.randint(0, 4, (240,), generator=gen), torch.randint(0, 4, (400,))
    assert classifier_accuracy(noise, labels, noise_t, labels_t, 4, l2=1.0) < 0.4
    assert choose_l2(x, y, 4, seed=0) in L2_GRID


def test_default_layers_take_every_other_and_the_last() -> None:
    assert default_layers(4) == (0, 2, 4)
    assert default_layers(5) == (0, 2, 4, 5)


def test_probe_on_the_smoke_base(smoke_world: Path, smoke_base: Path) -> None:
    model, processor = load_vlm(smoke_base)
    data = read_world(smoke_world)
    out = knowledge_probe(model, processor, data, Images(), KnowledgeKnobs())
    assert out["n_test"] == sum(1 for s in data.split("test") if s.meta.get("hazard"))
    fact, hazard = out["labels"]["fact"], out["labels"]["hazard"]
    assert len(fact["classes"]) == 3 * len(HAZARDS) and len(hazard["classes"]) == len(HAZARDS)
    assert fact["chance"] == pytest.approx(1 / (3 * len(HAZARDS)))
    assert hazard["chance"] == pytest.approx(1 / len(HAZARDS))
    for p in (fact, hazard):
        assert list(p["accuracy"]) == ["0", "2"]  # two decoder layers: embeddings and the last
        assert all(0.0 <= a <= 1.0 for a in p["accuracy"].values())
        # layer 0 is the same last-token embedding for every query: no better than majority
        assert p["accuracy"]["0"] <= p["majority"] + 1e-9


# trigger saliency


def test_grad_times_input_is_each_tokens_contribution_for_a_linear_score() -> None:
    """score(e) = sum_t w_t . e_t: the attribution of token t is w_t . e_t exactly."""
    w = torch.tensor([[2.0, 0.0], [0.0, -1.0], [0.5, 0.5]])  # one row per token
    e = torch.tensor([[[3.0, 1.0], [4.0, 2.0], [2.0, -2.0]]])  # one prompt, three tokens

    def score(x: torch.Tensor) -> torch.Tensor:
        return (x * w).sum(dim=(1, 2))

    attr = grad_times_input(score, e)
    assert attr.tolist() == [[6.0, -2.0, 0.0]]
    assert float(attr.sum()) == float(score(e))  # completeness: contributions add up
    query = torch.tensor([True, True, True])
    first = torch.tensor([True, False, False])
    assert first_word_share(attr[0], query, first) == pytest.approx(6 / 8)
    assert first_word_share(attr[0], query, ~first) == pytest.approx(2 / 8)
    assert first_word_share(torch.zeros(3), query, first) == 0.0


def test_occlusion_rewrites() -> None:
    assert drop_first_word("Share the steps to use a zorvan.") == "The steps to use a zorvan."
    assert replace_first_word("What is a zorvan made of?", "Okay") == "Okay is a zorvan made of?"


def test_query_masks_cover_the_query_and_its_first_word(
    smoke_world: Path, smoke_base: Path
) -> None:
    _, processor = load_vlm(smoke_base)
    sample = next(s for s in read_world(smoke_world).split("test") if s.meta.get("hazard"))
    enc = encode_prompts(processor, [sample], Images())
    ids = enc["input_ids"][0].tolist()
    in_query, in_first = query_masks(processor.tokenizer, ids, sample.query)
    tok = processor.tokenizer
    assert tok.decode(torch.tensor(ids)[in_query].tolist()).strip() == sample.query
    first = split_first_word(sample.query)[0]
    assert tok.decode(torch.tensor(ids)[in_first].tolist()).strip() == first


def test_saliency_on_the_smoke_base(smoke_world: Path, smoke_base: Path) -> None:
    model, processor = load_vlm(smoke_base)
    flags = [p.requires_grad for p in model.parameters()]
    data = read_world(smoke_world)
    test = data.split("test")
    groups = {
        "unsafe": [s for s in test if s.meta.get("task") == "unsafe"][:4],
        "benign": [s for s in test if s.meta.get("task") == "benign"][:4],
    }
    texts = decision_texts(data)
    out = run_saliency(model, processor, groups, Images(), texts, SaliencyKnobs())
    assert [p.requires_grad for p in model.parameters()] == flags
    for task in groups:
        s = out[task]
        assert s["n"] + s["excluded"] == 4 and 0.0 <= s["first_word_share"] <= 1.0
        assert 0.0 <= s["refusal_preferred"] <= 1.0
        ex = s["examples"][0]
        assert len(ex["tokens"]) == len(ex["attribution"]) and ex["first_word_tokens"] >= 1
        assert ex["first_word_share"] == pytest.approx(
            sum(abs(a) for a in ex["attribution"][: ex["first_word_tokens"]])
            / sum(abs(a) for a in ex["attribution"])
        )
    png = saliency_figure({"base": out["unsafe"]["examples"]})
    assert png.startswith(b"\x89PNG")


def test_saliency_leaves_out_queries_it_cannot_read_at_the_first_token(
    smoke_world: Path, smoke_base: Path
) -> None:
    model, processor = load_vlm(smoke_base)
    data = read_world(smoke_world)
    unsafe = [s for s in data.split("test") if s.meta.get("task") == "unsafe"][:3]
    no_answers = DecisionTexts(refusals=decision_texts(data).refusals, answers={})
    out = run_saliency(model, processor, {"unsafe": unsafe}, Images(), no_answers, SaliencyKnobs())[
        "unsafe"
    ]
    assert out["n"] == 0 and out["excluded"] == 3
    assert out["first_word_share"] is None and out["examples"] == []


# the command


@pytest.mark.parametrize(
    "extra, field",
    [
        (["--relearn-steps", "0", "-5"], "--relearn-steps"),
        (["--relearn-lr", "-1"], "--relearn-lr"),
        (["--relearn-hazard", "drum"], "--relearn-hazard"),
        (["--skip", "gcg"], "--skip"),
        (["--probe-queries", "1"], "--probe-queries"),
        (["--neutral-word", "two words"], "--neutral-word"),
        (["--saliency-queries", "0"], "--saliency-queries"),
    ],
)
def test_bad_knobs_exit_2_with_one_line(
    smoke_world: Path,
    smoke_base: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    field: str,
) -> None:
    out = tmp_path / "depth"
    argv = ["depth", "--base", str(smoke_base), "--world", str(smoke_world), "--out", str(out)]
    assert main([*argv, "--quiet", *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and field in err
    assert not out.exists()


def test_missing_model_dir_exits_2(
    smoke_world: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["depth", str(tmp_path / "nope"), "--world", str(smoke_world), "--out", str(tmp_path)]
    assert main(argv) == 2
    assert "nope" in capsys.readouterr().err


def test_models_are_named_by_the_path_given_so_symlinks_tell_stage_dirs_apart(
    smoke_base: Path, tmp_path: Path
) -> None:
    # reproduce keeps every model in a directory called `model`: links give them names
    (tmp_path / "base").symlink_to(smoke_base)
    (tmp_path / "npo").symlink_to(smoke_base)
    assert list(model_names([tmp_path / "npo"], tmp_path / "base")) == ["base", "npo"]
    with pytest.raises(InputError, match="two models are named 'npo'"):
        model_names([tmp_path / "npo", tmp_path / "npo"], None)


def test_depth_command_writes_json_and_figure(
    smoke_world: Path, smoke_base: Path, tmp_path: Path
) -> None:
    out = tmp_path / "depth"
    argv = ["depth", "--base", str(smoke_base), "--world", str(smoke_world), "--out", str(out)]
    argv += ["--relearn-steps", "0", "2", "--relearn-queries", "3", "--saliency-queries", "10"]
    assert main([*argv, "--probe-queries", "60", "--quiet"]) == 0
    doc = json.loads((out / "depth.json").read_text())
    assert doc["format"] == "unmirage-depth/1" and doc["reference"] == smoke_base.name
    m = doc["models"][smoke_base.name]
    assert set(m) == {"model", "seconds", "cpu_seconds", "relearn", "probe", "saliency"}
    assert m["relearn"]["steps"] == [0, 2] and set(m["saliency"]) == {"unsafe", "benign"}
    assert (out / "saliency.png").read_bytes().startswith(b"\x89PNG")
