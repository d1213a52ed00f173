"""tests/integration/mttr.py: what every drill appends for benchmarks/drills' MTTR table."""

from __future__ import annotations

import json

from tests.integration import mttr


def test_nothing_is_written_without_the_variable(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv(mttr.TIMES_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    seconds = mttr.record("registry-gc", "km-drill-node1", ["registry-storage-full"], mttr.start())
    assert seconds >= 0 and list(tmp_path.iterdir()) == []


def test_each_drill_appends_one_json_line(monkeypatch, tmp_path) -> None:
    times = tmp_path / "times.jsonl"
    monkeypatch.setenv(mttr.TIMES_ENV, str(times))
    mttr.record("nfs-remount", "km-st-node2", ("nfs-mount-lost",), mttr.start() - 12.34)
    mttr.record("docker-tcp", "km-fw-node1", ["exposure (fixture)"], None, seconds=7.0,
                wave="firewall")
    rows = [json.loads(line) for line in times.read_text().splitlines()]
    assert [(r["step"], r["node"], r["faults"], r["wave"]) for r in rows] == [
        ("nfs-remount", "km-st-node2", ["nfs-mount-lost"], "-"),
        ("docker-tcp", "km-fw-node1", ["exposure (fixture)"], "firewall")]
    assert rows[0]["seconds"] >= 12.3 and rows[1]["seconds"] == 7.0
