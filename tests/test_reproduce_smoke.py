"""`unmirage reproduce --preset smoke`: the whole pipeline completes, every metric is present
and in [0, 1], the report is written, and a rerun resumes from the stage cache."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from unmirage.cli import main

RATES = ("asr_pre", "asr_post", "ir_post", "rr_unsafe_post", "rr_pre", "rr_post", "utility")


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reproduce") / "run"
    assert main(["reproduce", "--preset", "smoke", "--out", str(out)]) == 0
    return out


def test_every_metric_is_present_and_a_rate(smoke_run: Path):
    metrics = json.loads((smoke_run / "metrics.json").read_text())
    assert set(metrics["models"]) == {"base", "sft-posthoc", "sft-mixed", "npo", "rmu"}
    assert set(metrics["training"]) == {"sft-posthoc", "sft-mixed", "npo", "rmu"}
    assert metrics["recipes"]["sft-mixed"]["start"] == "pre_instruction"
    for name, m in metrics["models"].items():
        for key in RATES:
            assert 0.0 <= m[key] <= 1.0, (name, key)
            lo, hi = m["ci"][key]
            assert 0.0 <= lo <= m[key] <= hi <= 1.0, (name, key)
        assert len(m["asr_post_by_k"]) == 3
        assert m["asr_post_by_k"] == sorted(m["asr_post_by_k"])  # any-of-k never falls
        assert m["asr_post_by_k"][-1] == m["asr_post"]
        assert m["n_unsafe"] > 0 and m["n_benign"] > 0 and m["n_utility"] > 0
        ranks = [row["rank"] for row in m["by_trigger"]["refusal"]]
        assert ranks == list(range(len(ranks))) and 1 <= len(ranks) <= 3
        assert m["control"]["kind"] == "own_opener"
        assert all(o["count"] is not None for o in m["control"]["openers"])
    assert set(metrics["provenance"]) >= {"version", "config_hash", "data_hash", "seed"}


def test_report_is_self_contained_with_both_tables(smoke_run: Path):
    html = (smoke_run / "report.html").read_text()
    assert "Table 1" in html and "Table 2" in html
    assert not re.search(r"(src|href)=\"https?://", html)
    assert html.count("data:image/png;base64,") >= 2
    for name in ("report.md", "kshot_asr.png", "first_words.png"):
        assert (smoke_run / name).stat().st_size > 0


def test_every_model_has_a_depth_block_and_the_report_shows_it(smoke_run: Path):
    metrics = json.loads((smoke_run / "metrics.json").read_text())
    assert metrics["depth"]["probes"] is True
    for name, m in metrics["models"].items():
        depth = m["depth"]
        for key in ("asr_gcg", "asr_prefill"):
            assert 0.0 <= depth[key] <= 1.0, (name, key)
        assert depth["gcg"]["n_queries"] == 2
        assert depth["gcg"]["loss"] <= depth["gcg"]["initial_loss"]
        leak = depth["relearn"]["leak"]["other"]
        assert len(leak) == len(depth["relearn"]["steps"]) == 3
        assert all(0.0 <= x <= 1.0 for x in leak)
        for label in depth["probe"]["labels"].values():
            assert all(0.0 <= a <= 1.0 for a in label["accuracy"].values())
        assert 0.0 <= depth["saliency"]["unsafe"]["first_word_share"] <= 1.0
    html = (smoke_run / "report.html").read_text()
    assert "Depth: is the safety real?" in html and "Table 3" in html
    assert (smoke_run / "relearn.png").read_bytes().startswith(b"\x89PNG")


def test_no_depth_leaves_the_depth_stages_out(smoke_run: Path, tmp_path):
    assert main(["reproduce", "--preset", "smoke", "--no-depth", "--out", str(smoke_run)]) == 0
    metrics = json.loads((smoke_run / "metrics.json").read_text())
    assert "depth" not in metrics and all("depth" not in m for m in metrics["models"].values())
    stages = json.loads((smoke_run / "stages.json").read_text())
    assert all(s["cached"] for s in stages.values())
    assert not any(n.startswith(("gcg-", "prefill-", "probes-")) for n in stages)


def test_rerun_resumes_and_a_new_k_reruns_only_attack_and_eval(smoke_run: Path):
    assert main(["reproduce", "--preset", "smoke", "--out", str(smoke_run)]) == 0
    stages = json.loads((smoke_run / "stages.json").read_text())
    assert all(s["cached"] for s in stages.values())

    assert main(["reproduce", "--preset", "smoke", "--k", "2", "--out", str(smoke_run)]) == 0
    stages = json.loads((smoke_run / "stages.json").read_text())
    rerun = {name for name, s in stages.items() if not s["cached"]}
    evals = {"eval-base", "eval-sft-posthoc", "eval-sft-mixed", "eval-npo", "eval-rmu"}
    assert rerun == {"attack", *evals}


@pytest.mark.parametrize(
    ("yaml_text", "extra", "named"),
    [
        ("test_openers: sometimes\n", [], "test_openers"),
        ("colours: 3\n", [], "colours"),
        ("bias_strength: 0\n", ["--model", "some/model"], "world_config"),
    ],
)
def test_bad_world_config_exits_2_before_any_stage(tmp_path, capsys, yaml_text, extra, named):
    knobs = tmp_path / "knobs.yaml"
    knobs.write_text(yaml_text)
    out = tmp_path / "run"
    argv = ["reproduce", "--preset", "smoke", "--world-config", str(knobs), *extra]
    assert main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and named in err[0], err
    assert not out.exists()
