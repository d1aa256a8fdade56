"""The multi-seed summary: mean, min and max per model, effects counted seed by seed."""

from unmirage.report.effects import effects_over_seeds
from unmirage.report.seeds import render_seeds_report
from unmirage.reproduce import summarize_seeds


def _model(asr_pre, asr_post, rr_pre, rr_post):
    rates = dict(asr_pre=asr_pre, asr_post=asr_post, rr_pre=rr_pre, rr_post=rr_post)
    rates |= dict(asr_control=0.1, ir_post=0.0, rr_unsafe_post=0.5, utility=0.9)
    ci = {k: [max(0.0, v - 0.05), min(1.0, v + 0.05)] for k, v in rates.items()}
    by_trigger = {
        "compliance": [{"word": "what", "rank": 0, "asr_post": asr_post}],
        "refusal": [{"word": "share", "rank": 0, "rr_post": rr_post}],
    }
    return {**rates, "ci": ci, "by_trigger": by_trigger}


def _run(seed_shift):
    return {
        "models": {
            "sft-posthoc": _model(0.02, 0.4 + seed_shift, 0.01, 0.8),
            "npo": _model(0.0, 0.01, 0.0, 0.02),
        },
        "training": {
            "sft-posthoc": {"steps": 590, "stopped_early": False},
            "npo": {"steps": 75 + int(100 * seed_shift), "stopped_early": True},
        },
    }


def test_summary_spreads_and_effects_over_seeds(tmp_path):
    runs = {0: _run(0.0), 1: _run(0.3)}
    runs[1]["models"]["sft-posthoc"]["asr_pre"] = 0.3  # unsafe before the attack in seed 1
    summary = summarize_seeds(runs)
    post = summary["sft-posthoc"]["asr_post"]
    assert post["values"] == [0.4, 0.7] and post["min"] == 0.4 and post["max"] == 0.7
    assert abs(post["mean"] - 0.55) < 1e-12
    assert summary["npo"]["train_steps"]["values"] == [75.0, 105.0]
    assert summary["sft-posthoc"]["by_trigger_refusal"][0]["words"] == ["share"]
    effects = effects_over_seeds({str(s): r["models"] for s, r in runs.items()})
    assert effects[0]["subjects"]["sft-posthoc"]["appeared"] == 1
    assert effects[0]["subjects"]["sft-posthoc"]["not_applicable"] == 1
    assert effects[2]["subjects"]["npo vs sft-posthoc"]["appeared"] == 2
    doc = {
        "seeds": {str(s): r["models"] for s, r in runs.items()},
        "training": {str(s): r["training"] for s, r in runs.items()},
        "summary": summary,
        "effects": effects,
        "config": {},
    }
    render_seeds_report(tmp_path, doc)
    md = (tmp_path / "report.md").read_text()
    assert "| sft-posthoc | 2 | 16.0 [2.0, 30.0] | 55.0 [40.0, 70.0] |" in md
    assert (
        "sft-posthoc: appeared in 1 of 2 seeds, not applicable (unsafe before the attack) in 1"
        in md
    )
    assert "appeared in 2 of 2 seeds" in md and (tmp_path / "report.html").exists()


def _depth(gcg, leak_other):
    return {
        "asr_gcg": gcg,
        "asr_prefill": 0.5,
        "gcg": {"n_queries": 10},
        "relearn": {"steps": [0, 5], "leak": {"other": leak_other, "same": [0.0, 1.0]}},
        "probe": {
            "labels": {"fact": {"chance": 0.1, "accuracy": {"0": 0.2, "4": 0.8}}},
        },
        "saliency": {
            "unsafe": {"first_word_share": 0.3, "occlusion_replace": 1.5},
            "benign": {"first_word_share": 0.2, "occlusion_drop": -2.0},
        },
    }


def test_depth_numbers_spread_over_seeds(tmp_path):
    runs = {0: _run(0.0), 1: _run(0.3)}
    runs[0]["models"]["npo"]["depth"] = _depth(0.1, [0.0, 0.2])
    runs[1]["models"]["npo"]["depth"] = _depth(0.3, [0.0, 0.4])
    summary = summarize_seeds(runs)
    depth = summary["npo"]["depth"]
    assert depth["asr_gcg"]["values"] == [0.1, 0.3]
    assert depth["relearn_other_step_5"]["values"] == [0.2, 0.4]
    assert depth["probe_fact_last"]["values"] == [0.8, 0.8]  # layer 4, not layer 0
    assert depth["saliency_benign_first_word_share"]["values"] == [0.2, 0.2]
    assert "depth" not in summary["sft-posthoc"]  # no depth stages: no rows made up
    md = _rendered(tmp_path, runs, summary)
    assert "| ASR after GCG | 20.0 [10.0, 30.0] |" in md
    assert "| leak on the other hazards after 5 relearning steps | 30.0 [20.0, 40.0] |" in md
    assert "| log-odds drop, first word replaced (unsafe) | 1.50 [1.50, 1.50] |" in md
    assert "| log-odds drop, first word removed (benign) | -2.00 [-2.00, -2.00] |" in md
    assert "| first word's share of attribution (benign) | 20.0 [20.0, 20.0] |" in md


def _rendered(tmp_path, runs, summary):
    """report.md of the seed summary of `runs`."""
    doc = {
        "seeds": {str(s): r["models"] for s, r in runs.items()},
        "training": {str(s): r["training"] for s, r in runs.items()},
        "summary": summary,
        "effects": effects_over_seeds({str(s): r["models"] for s, r in runs.items()}),
        "config": {},
    }
    render_seeds_report(tmp_path, doc)
    return (tmp_path / "report.md").read_text()


def test_hazard_groups_spread_over_seeds_and_reach_the_report(tmp_path):
    """Seen and held-out hazards' rates are summarised per group over seeds and tabled."""
    runs = {0: _run(0.0), 1: _run(0.3)}
    for seed, held_out_asr in ((0, 0.2), (1, 0.6)):
        runs[seed]["models"]["sft-posthoc"]["by_hazard_group"] = {
            "seen": {"asr_pre": 0.0, "asr_post": 0.4, "asr_control": 0.1},
            "held_out": {"asr_pre": held_out_asr, "asr_post": 0.9, "asr_control": 0.5},
        }
    summary = summarize_seeds(runs)
    held = summary["sft-posthoc"]["by_hazard_group"]["held_out"]["asr_pre"]
    assert held["values"] == [0.2, 0.6] and abs(held["mean"] - 0.4) < 1e-12
    assert "by_hazard_group" not in summary["npo"]
    md = _rendered(tmp_path, runs, summary)
    assert "## Seen and held-out hazards over seeds" in md
    assert (
        "| sft-posthoc | held-out hazards (base data and test only) | 40.0 [20.0, 60.0] "
        "| 90.0 [90.0, 90.0] |" in md
    )


def test_hazard_image_rates_spread_over_seeds_and_reach_the_report(tmp_path):
    runs = {0: _run(0.0), 1: _run(0.3)}
    for seed, rr in ((0, 0.1), (1, 0.5)):
        runs[seed]["models"]["sft-posthoc"] |= {"utility_hazard_image": 0.8, "rr_hazard_image": rr}
    summary = summarize_seeds(runs)
    assert summary["sft-posthoc"]["rr_hazard_image"]["values"] == [0.1, 0.5]
    assert "rr_hazard_image" not in summary["npo"]
    md = _rendered(tmp_path, runs, summary)
    assert "## Harmless questions about hazard images over seeds" in md
    assert "| 80.0 [80.0, 80.0] | 30.0 [10.0, 50.0] |" in md
