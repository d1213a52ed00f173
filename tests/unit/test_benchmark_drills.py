"""benchmarks/drills renders the MTTR table from the times the drill module records."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "drills"
ROWS = [{"wave": 3, "drill": "registry full", "node": "km-drill-node1",
         "faults": ["registry-storage-full"], "check": "registry-storage", "step": "registry-gc",
         "seconds": 41.2},
        {"wave": 4, "drill": "docker-init gone", "node": "km-drill-node3",
         "faults": ["docker-binary-missing"], "check": "log:docker-binaries-broken",
         "step": "docker-reinstall", "seconds": 75.0}]


@pytest.fixture(scope="module")
def drills():
    loader = importlib.machinery.SourceFileLoader("drills_bench", str(SCRIPT))
    spec = importlib.util.spec_from_loader("drills_bench", loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules["drills_bench"] = module
    try:
        loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop("drills_bench", None)


def test_table_lists_every_step_and_marks_those_over_the_target(drills) -> None:
    lines = drills.table(ROWS).splitlines()
    rows = {line.split(" | ")[0].lstrip("| "): line for line in lines[2:]}
    names = [step["name"] for step in drills.steps()]
    assert list(rows) == names, "every recovery step has a row, in recover --list order"
    assert rows["registry-gc"] == ("| registry-gc | test_drills.py::test_drill_wave[wave3] | node1 | "
                                   "registry-storage-full | 41.2 s | ok |")
    assert rows["docker-reinstall"].endswith("| 75.0 s | over 60 s |")
    assert rows["pause-image"].endswith("| no figure (drill failed or not run) | |")


def test_cluster_level_steps_have_no_target_and_the_slowest_shape_counts(drills) -> None:
    rebuild = {"wave": "-", "drill": "master-ip-change", "node": "km-k8s-life-node1",
               "faults": ["master re-addressed"], "check": "", "step": "master-ip-change",
               "seconds": 400.0}
    faster = {**ROWS[0], "seconds": 12.0}
    lines = drills.table([*ROWS, rebuild, faster]).splitlines()
    assert any(line.startswith("| master-ip-change |") and line.endswith("| 400.0 s | cluster-level |")
               for line in lines), lines
    assert any(line.startswith("| registry-gc |") and "| 41.2 s |" in line for line in lines)


def test_every_drill_module_is_run(drills) -> None:
    modules = drills.drill_modules()
    assert "tests/integration/test_drills.py" in modules
    assert "tests/integration/test_storage_lab.py" in modules
    assert len(modules) == len(set(modules))
    assert all((SCRIPT.parents[1] / m).is_file() for m in modules)


def test_from_file_reports_json_without_a_lab(drills, tmp_path, capsys) -> None:
    times = tmp_path / "times.jsonl"
    times.write_text("".join(json.dumps(row) + "\n" for row in ROWS))
    assert drills.main(["--from", str(times), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["over_target"] == ["docker-reinstall"]
    assert "pause-image" in report["without_figure"] and "registry-gc" not in report["without_figure"]
    assert report["machine_before"]["cores"] >= 1 and report["module_wall_seconds"] is None


def test_a_missing_times_file_is_exit_2(drills, tmp_path, capsys) -> None:
    assert drills.main(["--from", str(tmp_path / "nope.jsonl")]) == 2
    assert "nope.jsonl: no such times file" in capsys.readouterr().err


def test_a_figure_names_the_test_that_recorded_it(drills) -> None:
    """nginx-restart is drilled by two tests (host unit, portal pod): its row named the step's
    drilled_by while showing the other test's figure. A record carries its test now."""
    portal = {"wave": "-", "drill": "nginx-restart", "node": "km-k8s-real-node1",
              "faults": ["portal pod down"], "check": "portal-nginx-pod", "step": "nginx-restart",
              "seconds": 51.7, "test": "tests/integration/test_kubernetes_real.py::test_portal"}
    [row] = [line for line in drills.table([*ROWS, portal]).splitlines()
             if line.startswith("| nginx-restart |")]
    assert row == ("| nginx-restart | test_kubernetes_real.py::test_portal | node1 | portal pod down"
                   " | 51.7 s | ok |")
