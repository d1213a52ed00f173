"""benchmarks/fanout: argument parsing, recap parsing, medians and ratios (no lab needed)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "fanout"


@pytest.fixture(scope="module")
def fanout():
    loader = importlib.machinery.SourceFileLoader("fanout", str(SCRIPT))
    spec = importlib.util.spec_from_loader("fanout", loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules["fanout"] = module  # dataclasses resolve annotations through sys.modules
    try:
        loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop("fanout", None)


def test_defaults(fanout):
    args = fanout.parse_args([])
    assert args.nodes == [1, 2, 4, 8]
    assert args.modes == ["stock", "kubemedic", "mitogen"]
    assert args.tags == "common,container-runtime"
    assert args.repeat == 2 and not args.json and not args.keep_lab


def test_nodes_are_sorted_unique_and_bounded(fanout):
    assert fanout.parse_args(["--nodes", "4,1,4,2"]).nodes == [1, 2, 4]
    for bad in ("0,1", "1,9", "one", ""):
        with pytest.raises(SystemExit):
            fanout.parse_args(["--nodes", bad])


def test_modes_keep_stock_first_and_reject_unknown(fanout):
    assert fanout.parse_args(["--modes", "mitogen,stock"]).modes == ["stock", "mitogen"]
    with pytest.raises(SystemExit):
        fanout.parse_args(["--modes", "stock,turbo"])
    with pytest.raises(SystemExit):
        fanout.parse_args(["--repeat", "0"])
    with pytest.raises(SystemExit):
        fanout.parse_args(["--playbook", "playbooks/nope.yml"])


def test_recap_sums_changed_and_failures(fanout):
    output = """PLAY RECAP *********
km-speed-node1             : ok=30   changed=0    unreachable=0    failed=0    skipped=9
km-speed-node2             : ok=29   changed=2    unreachable=1    failed=1    skipped=9
"""
    assert fanout.recap(output) == (2, 2, 2)
    assert fanout.recap("no recap") == (0, 0, 0)


def test_medians_ignore_failed_runs_and_ratios(fanout):
    sample = fanout.Sample
    samples = [
        sample("playbook", "stock", 1, 10.0, 0), sample("playbook", "stock", 1, 12.0, 0),
        sample("playbook", "stock", 1, 99.0, 2),          # failed: not timed
        sample("playbook", "kubemedic", 1, 4.0, 0), sample("playbook", "kubemedic", 1, 6.0, 0),
        sample("playbook", "stock", 8, 33.0, 0),
        sample("playbook", "kubemedic", 8, 7.5, 0),
        sample("doctor", "kubemedic", 2, 3.0, 0),
    ]
    table = fanout.medians(samples)
    assert table[("playbook", "stock", 1)] == 11.0
    assert table[("playbook", "kubemedic", 1)] == 5.0
    rel = fanout.ratios(table)
    assert rel["playbook/kubemedic/1 vs stock"] == pytest.approx(5.0 / 11.0, abs=0.01)
    assert rel["playbook/kubemedic/8 vs stock"] == pytest.approx(7.5 / 33.0, abs=0.01)
    assert rel["playbook/stock/8 vs 1"] == 3.0
    assert rel["playbook/kubemedic/8 vs 1"] == 1.5
    assert "doctor/kubemedic/2 vs stock" not in rel  # no stock run to compare with
    assert not any(key.startswith("doctor/kubemedic/2 vs ") for key in rel)


def test_render_prints_table_and_problems(fanout):
    report = fanout.Report(machine={"cpus": 2, "cpu_model": "x", "mem_total_mb": 1,
                                    "load_start": 0.1, "ansible": "2.19"},
                           playbook="playbooks/site.yml", tags="common", nodes=[1, 2],
                           modes=["stock", "kubemedic"], repeat=1,
                           samples=[fanout.Sample("playbook", "stock", 1, 10.0, 0),
                                    fanout.Sample("playbook", "kubemedic", 1, 4.0, 0),
                                    fanout.Sample("playbook", "stock", 2, 12.0, 0),
                                    fanout.Sample("playbook", "kubemedic", 2, 5.0, 0, 1, "x")],
                           skipped=["doctor: not there"])
    text = fanout.render(report)
    assert "kubemedic/stock" in text and "0.40" in text and "1.20" in text
    assert "! playbook/kubemedic/2n rc=0 changed=1" in text
    assert "skipped: doctor: not there" in text
    assert report.to_json()["ratios"]["playbook/kubemedic/2 vs stock"] == pytest.approx(0.42)


def test_cpu_table_shows_where_the_time_went_and_the_floor_of_the_wall_time(fanout):
    def sample(mode, nodes, seconds, ctl, inside, rc=0):
        return fanout.Sample("playbook", mode, nodes, seconds, rc,
                             cpu_controller=ctl, cpu_nodes=inside)

    samples = [sample("stock", 8, 60.0, 20.0, 80.0), sample("stock", 8, 62.0, 22.0, 84.0),
               sample("stock", 8, 99.0, 1.0, 1.0, rc=2),         # failed: not in the medians
               sample("mitogen", 8, 22.0, 14.0, 10.0)]
    assert fanout.cpu_medians(samples) == {("playbook", "stock", 8): (21.0, 82.0),
                                           ("playbook", "mitogen", 8): (14.0, 10.0)}
    report = fanout.Report(machine={"cpus": 2, "cpu_model": "x", "mem_total_mb": 1,
                                    "load_start": 0.1, "ansible": "2.19"},
                           playbook="playbooks/site.yml", tags="common", nodes=[8],
                           modes=["stock", "mitogen"], repeat=2, samples=samples)
    text = fanout.render(report)
    assert "21.0+82.0 (51.5)" in text and "14.0+10.0 (12.0)" in text
    # runs without a readable cgroup print no cpu table at all
    assert fanout.render_cpu(fanout.Report(
        machine={"cpus": 2}, playbook="p", tags="", nodes=[1], modes=["stock"], repeat=1,
        samples=[fanout.Sample("playbook", "stock", 1, 3.0, 0)])) == []
