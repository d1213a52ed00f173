"""kb/ascend.yml (Huawei Ascend NPU signatures) and kb/nvidia.yml on real excerpts of the
labelled corpus (training split only: held-out entries are neither used nor copied), each
signature naming a repair the operator can run."""

from __future__ import annotations

from importlib import resources

import pytest
import yaml

from kubemedic.commands.recover import load_steps
from kubemedic.doctor import kb
from tests.conftest import REPO
from tests.unit.test_log_corpus import heldout

LOGS = REPO / "tests" / "data" / "logs"
CORPUS = {e["id"]: e for path in sorted(LOGS.glob("*.yml"))
          for e in yaml.safe_load(path.read_text(encoding="utf-8"))}
HELDOUT_TEXTS = [e["text"] for e in CORPUS.values() if heldout(e["id"])]


def kb_file(name: str) -> list[kb.Signature]:
    raw = resources.files("kubemedic.data").joinpath(f"kb/{name}").read_text(encoding="utf-8")
    return kb.parse_entries(yaml.safe_load(raw), f"kb/{name}")


ASCEND = kb_file("ascend.yml")
OWN = ASCEND + kb_file("nvidia.yml")
STEPS = {s["name"] for s in load_steps()}


def first(text: str) -> kb.Signature | None:
    found = kb.match_text(text)
    return found[0].signature if found else None


@pytest.mark.parametrize(("entry_id", "step"), [
    ("ascend-runtime-alphafold-1073", "ascend-runtime"),
    ("device-plugin-restart-hami-ascend-129", "device-plugin-restart"),
])
def test_training_excerpts_name_their_recover_step(entry_id, step) -> None:
    entry = CORPUS[entry_id]
    assert not heldout(entry_id)
    assert first(entry["text"]).step == step == entry["label"]


@pytest.mark.parametrize(("entry_id", "tool"), [
    ("hardware-support-vllm-ascend-1815", "hccn_tool"),   # RoCE: ra rdev / rdma init failed
    ("hardware-support-vllm-ascend-7384", "hccn_tool"),   # RoCE CQE error EI0013
    ("hardware-support-vllm-ascend-8186", "npu-smi"),     # device absent, lost heartbeat
])
def test_hardware_faults_get_a_support_command(entry_id, tool) -> None:
    entry = CORPUS[entry_id]
    assert not heldout(entry_id) and entry["label"] == "hardware-support"
    sig = first(entry["text"])
    assert sig.step is None and sig.fix.startswith(f"ssh {{host}} {tool} ")
    assert "hardware support" in sig.fix


@pytest.mark.parametrize("entry_id", ["none-cann-container-image-46", "none-ipmi-exporter-75-dcmi"])
def test_distractors_get_no_ascend_repair(entry_id) -> None:
    """-8020 (an NPU shared by two containers) and IPMI's DCMI are not node repairs."""
    assert not heldout(entry_id)
    found = {m.signature.id for m in kb.match_text(CORPUS[entry_id]["text"])}
    assert not found & {s.id for s in ASCEND}


@pytest.mark.parametrize("signature", OWN, ids=lambda s: s.id)
def test_every_signature_names_a_command(signature) -> None:
    if signature.step:
        assert signature.step in STEPS
    else:
        command = signature.fix.format(customer="acme", host="node1")
        assert command.startswith(("kubemedic ", "ssh node1 ")), command


@pytest.mark.parametrize("signature", OWN, ids=lambda s: s.id)
def test_examples_are_not_copied_from_the_held_out_split(signature) -> None:
    for example in signature.examples:
        probe = " ".join(example.split())
        assert not any(probe in " ".join(text.split()) for text in HELDOUT_TEXTS), example


def test_ascend_covers_each_repair_the_issue_names() -> None:
    repairs = {s.step or s.fix.split()[2] for s in ASCEND}
    assert {"ascend-runtime", "kernel-driver", "device-plugin-restart"} <= repairs
    assert any("hardware support" in (s.fix or "") for s in ASCEND)
    # the /sys/class/devdrv-class and collector signatures stay in signatures.yml
    assert {"npu-devdrv-missing", "npu-collector-down"} <= {s.id for s in kb.load()}
