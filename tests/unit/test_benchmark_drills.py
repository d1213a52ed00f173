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


def test_table_marks_steps_over_the_target(drills) -> None:
    lines = drills.table(ROWS).splitlines()
    assert lines[2] == "| 3 | node1 | registry-gc | registry-storage-full | 41.2 s | ok |"
    assert lines[3] == "| 4 | node3 | docker-reinstall | docker-binary-missing | 75.0 s | over 60 s |"


def test_from_file_reports_json_without_a_lab(drills, tmp_path, capsys) -> None:
    times = tmp_path / "times.jsonl"
    times.write_text("".join(json.dumps(row) + "\n" for row in ROWS))
    assert drills.main(["--from", str(times), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["over_target"] == ["docker-reinstall"]
    assert report["machine_before"]["cores"] >= 1 and report["module_wall_seconds"] is None
