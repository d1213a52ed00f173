"""The knowledge base on real logs nobody here wrote: the held-out split of tests/data/logs.

Runs benchmarks/kb_eval's own functions (one evaluation, two users) and asserts the targets on
the held-out split. The signatures are written from the training split only; the test below that
no signature example occurs in a held-out text keeps that honest.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from pathlib import Path

import pytest

from kubemedic.doctor import kb

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "kb_eval"

# Issue 13 asks for >= 90 % top-1 and <= 5 % of distractors given a repair on the held-out split.
# The distractor target is met (0 of 15). The top-1 target is NOT reached honestly: the misses are
# wordings the training split does not show (NIC link, nginx, registry disk, kernel driver, NFS,
# kubelet's older wordings, an unreadable hosts.allow), and per-entry held-out results are
# deliberately not looked at. The floor sits just below the measured figure (benchmarks/kb_eval,
# docs/doctor.md): 76 of 90 (84.4 %) on 3 December 2026 (the 79 held-out entries of the previous
# run still at 65, the 11 added since all answered); unchanged at 76 of 90 after the next round
# (patterns written from training misses and from 13 new training excerpts: docs/doctor.md), so
# the floor stayed; 77 of 90 (85.6 %) after the generalisation round (wordings written from the
# components' sources, 28 new training excerpts, one evaluation run: docs/doctor.md), floor 0.85;
# 78 of 90 (86.7 %) on 4 December 2026 after the wide round (98 new training excerpts, patterns
# per label from the components' sources, one evaluation run: docs/doctor.md), floor 0.86.
# Raise it as signatures improve; lower it only
# when the corpus grows with entries the matcher does not know yet (never to pass after a change of
# the matcher).
HELDOUT_TOP1_FLOOR = 0.86
DISTRACTOR_REPAIR_CEILING = 0.05


@pytest.fixture(scope="module")
def kb_eval():
    loader = importlib.machinery.SourceFileLoader("kb_eval", str(SCRIPT))
    spec = importlib.util.spec_from_loader("kb_eval", loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules["kb_eval"] = module
    try:
        loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop("kb_eval", None)


@pytest.fixture(scope="module")
def corpus(kb_eval):
    return kb_eval.corpus()


@pytest.fixture(scope="module")
def heldout_result(kb_eval, corpus):
    return kb_eval.evaluate([e for e in corpus if e["split"] == "heldout"])


def test_heldout_top1(heldout_result) -> None:
    assert heldout_result["top1"] >= HELDOUT_TOP1_FLOOR, heldout_result["top1"]


def test_heldout_distractors_mostly_get_no_repair(heldout_result) -> None:
    assert heldout_result["distractors"] > 0
    assert heldout_result["distractor_repair_rate"] <= DISTRACTOR_REPAIR_CEILING


def test_every_label_counts(heldout_result, corpus) -> None:
    # no label is left out of the figures (labels without any signature count as misses)
    labels = {e["label"] for e in corpus if e["split"] == "heldout"}
    assert labels <= set(heldout_result["labels"])
    assert heldout_result["entries"] == sum(1 for e in corpus if e["split"] == "heldout")


def test_the_evaluation_can_fail(kb_eval) -> None:
    # a wrong label is a miss, a repair named for a distractor counts against the rate
    entries = [{"id": "a", "label": "ntp", "text": "running with swap on is not supported"},
               {"id": "b", "label": "none", "text": "mount.nfs: Connection timed out"},
               {"id": "c", "label": "none", "text": "all good"}]
    result = kb_eval.evaluate(entries)
    assert result["top1"] == pytest.approx(1 / 3)
    assert result["distractors_given_repair"] == 1
    assert result["labels"]["ntp"]["recall"] == 0


def test_no_signature_example_comes_from_a_heldout_entry(corpus) -> None:
    heldout_texts = [e["text"] for e in corpus if e["split"] == "heldout"]
    leaks = []
    for signature in kb.load():
        for example in signature.examples:
            if any(example.strip() in text for text in heldout_texts):
                leaks.append(f"{signature.id}: {example[:80]!r}")
    assert not leaks, "examples copied from held-out entries:\n" + "\n".join(leaks)


def test_errors_lists_training_misses_only(kb_eval, capsys, corpus) -> None:
    kb_eval.main(["--errors"])
    listed = {line.split('"')[3] for line in capsys.readouterr().out.splitlines() if line}
    heldout_ids = {e["id"] for e in corpus if e["split"] == "heldout"}
    assert not listed & heldout_ids


def test_json_figures_name_no_heldout_entry(kb_eval, capsys, corpus) -> None:
    # the held-out split is only ever reported in aggregate, whatever the output format
    kb_eval.main(["--json"])
    output = capsys.readouterr().out
    assert '"heldout"' in output
    leaked = [e["id"] for e in corpus if e["split"] == "heldout" and e["id"] in output]
    assert not leaked, leaked


def test_every_corpus_label_has_a_signature_naming_it(corpus) -> None:
    # a label no signature can name is a guaranteed miss: the KB must at least try every repair
    named = {signature.label for signature in kb.load()}
    missing = sorted({e["label"] for e in corpus} - {"none"} - named)
    assert not missing, missing


def test_split_train_reports_and_matches_the_training_split_only(kb_eval, capsys, monkeypatch) -> None:
    # what a developer runs while tuning: the held-out entries are not even matched
    matched = []
    real_evaluate = kb_eval.evaluate
    monkeypatch.setattr(kb_eval, "evaluate", lambda entries: matched.append(
        {e["split"] for e in entries}) or real_evaluate(entries))
    kb_eval.main(["--split", "train", "--json"])
    output = capsys.readouterr().out
    assert '"train"' in output and '"heldout"' not in output
    assert matched == [{"train"}]
