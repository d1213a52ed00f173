"""benchmarks/kb_speed on a tiny journal: it builds the file, runs every way and reports ratios."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "kb_speed"


@pytest.fixture(scope="module")
def kb_speed():
    loader = importlib.machinery.SourceFileLoader("kb_speed", str(SCRIPT))
    spec = importlib.util.spec_from_loader("kb_speed", loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules["kb_speed"] = module
    try:
        loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop("kb_speed", None)


def test_journal_mixes_noise_and_training_lines(kb_speed, tmp_path) -> None:
    path = tmp_path / "j.log"
    lines = kb_speed.build_journal(path, 0.3)
    text = path.read_text(encoding="utf-8")
    assert 0.3e6 <= len(text.encode()) < 0.32e6 and lines == text.count("\n")
    training = set(kb_speed.corpus_lines())
    mixed = [line for line in text.splitlines() if line in training]
    assert 0 < len(mixed) < lines / 50   # about one line in 300


@pytest.mark.skipif(not shutil.which("grep"), reason="needs grep")
def test_one_small_run_reports_every_way(kb_speed, capsys) -> None:
    assert kb_speed.main(["--mb", "0.2", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    ways = report["ways"]
    assert ways["grep -P -c -i (all patterns, one alternation)"]["ratio_to_grep_p"] == 1.0
    assert all(way["seconds"] > 0 and way["mb_per_s"] > 0 for way in ways.values())
    assert ways["kubemedic explain FILE --json"]["signatures"] > 0
