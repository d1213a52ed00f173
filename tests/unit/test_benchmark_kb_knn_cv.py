"""benchmarks/kb_knn_cv: leave-one-out really leaves the entry out, and the counts can fail."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "kb_knn_cv"


@pytest.fixture(scope="module")
def knn():
    loader = importlib.machinery.SourceFileLoader("kb_knn_cv", str(SCRIPT))
    spec = importlib.util.spec_from_loader("kb_knn_cv", loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules["kb_knn_cv"] = module
    try:
        loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop("kb_knn_cv", None)


ENTRIES = [
    {"label": "ntp", "text": "chronyd: Can't synchronise: no majority"},
    {"label": "ntp", "text": "chronyd: System clock wrong by 12 seconds, no majority"},
    {"label": "nginx-restart", "text": "nginx: [emerg] bind() to 0.0.0.0:80 failed"},
    {"label": "none", "text": "readiness probe failed: HTTP probe failed with statuscode: 500"},
]


def test_tokens_drop_numbers_ids_and_stop_words(knn) -> None:
    assert knn.tokens("Jan 24 10:31:43 chronyd[816]: the clock a1b2c3d4e5f6a7b8 eth0") == \
        ["chronyd", "clock", "eth"]


def test_leave_one_out_never_finds_the_entry_itself(knn) -> None:
    found = knn.neighbours(ENTRIES)
    assert found[0]["neighbour"] == "ntp" and found[1]["neighbour"] == "ntp"
    # the only nginx excerpt has no other nginx excerpt to find: it cannot be its own neighbour
    assert found[2]["neighbour"] != "nginx-restart" or found[2]["similarity"] == 0.0
    assert all(0.0 <= f["similarity"] <= 1.0 + 1e-9 for f in found)


def test_score_counts_distractors_given_a_repair(knn) -> None:
    found = [{"neighbour": "ntp", "similarity": 0.9, "none": 0.0}] * len(ENTRIES)
    signatures = ["none"] * len(ENTRIES)
    result = knn.score(ENTRIES, found, signatures, threshold=0.5, margin=0.0)
    assert result["answered"] == 4 and result["distractors_given_repair"] == 1
    assert result["fallback_top1"] == pytest.approx(0.5)
    strict = knn.score(ENTRIES, found, signatures, threshold=0.95, margin=0.0)
    assert strict["answered"] == 0 and strict["system_top1"] == pytest.approx(0.25)
