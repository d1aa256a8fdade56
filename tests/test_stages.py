import time
from pathlib import Path

import pytest

from unmirage.provenance import config_hash
from unmirage.reproduce.rss import rss_mb
from unmirage.reproduce.stages import StageRunner


def test_config_hash_is_order_independent():
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})


def _writer(calls: list[str], name: str):
    def work(path: Path) -> None:
        calls.append(name)
        (path / "out.txt").write_text(name)

    return work


def test_rerun_skips_finished_stages_and_knob_change_reruns_downstream_only(tmp_path):
    calls: list[str] = []
    r1 = StageRunner(tmp_path)
    a = r1.run("a", {"x": 1}, _writer(calls, "a"))
    b = r1.run("b", {"a": a, "y": 2}, _writer(calls, "b"))
    c = r1.run("c", {"z": 3}, _writer(calls, "c"))
    assert calls == ["a", "b", "c"]

    r2 = StageRunner(tmp_path)
    assert r2.run("a", {"x": 1}, _writer(calls, "a")).cached
    assert calls == ["a", "b", "c"]

    r3 = StageRunner(tmp_path)
    a2 = r3.run("a", {"x": 9}, _writer(calls, "a"))
    b2 = r3.run("b", {"a": a2, "y": 2}, _writer(calls, "b"))
    c2 = r3.run("c", {"z": 3}, _writer(calls, "c"))
    assert calls == ["a", "b", "c", "a", "b"]
    assert c2.cached and c2.path == c.path
    assert b2.path != b.path and a2.path != a.path


def test_killed_stage_reruns_in_same_directory(tmp_path):
    def dies(path: Path) -> None:
        (path / "partial.txt").write_text("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        StageRunner(tmp_path).run("s", {}, dies)

    seen: list[bool] = []

    def resumes(path: Path) -> None:
        seen.append((path / "partial.txt").exists())

    result = StageRunner(tmp_path).run("s", {}, resumes)
    assert seen == [True] and not result.cached
    assert StageRunner(tmp_path).run("s", {}, resumes).cached


def test_stage_records_its_own_peak_memory_and_a_rerun_keeps_it(tmp_path):
    def big(path: Path) -> None:
        block = bytearray(300 * 2**20)  # 300 MB, touched so it is resident
        for i in range(0, len(block), 4096):
            block[i] = 1
        time.sleep(0.2)

    def small(path: Path) -> None:
        time.sleep(0.2)

    runner = StageRunner(tmp_path)
    before = rss_mb()
    first, second = runner.run("big", {}, big), runner.run("small", {}, small)
    assert first.peak_rss_mb >= before + 250
    assert second.peak_rss_mb < first.peak_rss_mb - 250  # not the process's peak so far
    again = StageRunner(tmp_path).run("big", {}, big)
    assert again.cached and again.peak_rss_mb == first.peak_rss_mb
