"""`kubemedic report` from the real records of a two-fault incident on lab nodes: what make demo
does (scripts/demo), shortened to two nodes and the roles the faults touch.

The lab gets its offline bundle the demo's way (`lab up --bundle`, scripts/demo-bundle: a pause
image of our own static program, built here), then docker, the registry and the bundle's images
(bootstrap --tags container-runtime,registry,offline-images). Two faults of different kinds are
injected with `kubemedic lab drill` (daemon.json cut in the middle on node1, hosts.allow broken
on node2), doctor names the repairs, `kubemedic recover` runs the step doctor named for each,
doctor runs again, and the report is built from those records. Everything is real: nodes,
ssh, docker, tcp-wrappers, the records; no test double.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = [pytest.mark.lab, pytest.mark.slow]

NAME = "km-demo-rpt"
SUBNET = "10.77.42.0/24"
N1, N2 = f"{NAME}-node1", f"{NAME}-node2"
FAULTS = {N1: ("daemon-json-corrupted", "docker-daemon-json", "daemon-json"),
          N2: ("hosts-allow-broken", "hosts-allow-subnet", "hosts-allow")}


def ok(result: subprocess.CompletedProcess, *codes: int) -> subprocess.CompletedProcess:
    assert result.returncode in (codes or (0,)), result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def incident(lab_factory, tmp_path_factory) -> dict:
    from kubemedic.lab import lab as lab_mod

    bundle = tmp_path_factory.mktemp("bundle")
    lab = lab_factory(NAME, nodes=2, subnet=SUBNET, outside=0)
    lab_mod.up(NAME, nodes=2, subnet=SUBNET, outside=0, bundle=str(bundle), log=lambda m: None)
    ok(subprocess.run([str(REPO / "scripts" / "demo-bundle"), "-c", NAME], capture_output=True,
                      text=True, timeout=300, check=False))
    ok(lab.kubemedic("bootstrap", "-c", NAME, "--tags", "container-runtime,registry,offline-images",
                     "--json"))
    for node, (fault, _check, _step) in FAULTS.items():
        ok(lab.kubemedic("lab", "drill", "-c", NAME, fault, "--limit", node, "--json"))
    before = json.loads(ok(lab.kubemedic("doctor", "-c", NAME, "--json"), 5).stdout)
    for node, (_fault, check, step) in FAULTS.items():
        named = {f["step"] for f in before["findings"] if f["host"] == node and f["check"] == check}
        assert named == {step}, (node, check, before["findings"])
        ok(lab.kubemedic("recover", step, "-c", NAME, "--limit", node, "--yes", "--json"))
    after = json.loads(ok(lab.kubemedic("doctor", "-c", NAME, "--json"), 0, 5).stdout)
    answers = {}
    for lang in ("en", "zh"):
        done = ok(lab.kubemedic("report", "-c", NAME, "--lang", lang, "--json",
                                "--runs", ",".join(Path(r).name for r in _records(NAME))))
        answers[lang] = json.loads(done.stdout)
    return {"lab": lab, "before": before, "after": after, "answers": answers}


def _records(customer: str) -> list[str]:
    from kubemedic.engine import record_query

    return [r["record"] for r in record_query.customer_runs(customer) if r["verb"] != "report"]


def test_both_faults_reported_repaired_and_verified(incident) -> None:
    answer = incident["answers"]["en"]
    # A fault is keyed by each of its checks (findings naming one step are one fault).
    faults = {check: f for f in answer["faults"] for check in f["checks"]}
    for node, (_fault, check, step) in FAULTS.items():
        fault = faults[check]
        assert fault["hosts"] == [node] and fault["step"] == step
        assert fault["verified"] and fault["verified"].endswith("-doctor")
        assert [h.split("Z-", 1)[1] for h in fault["handling"]] == [f"recover-{step}"]
        assert fault["repair_seconds"] > 0
    md = Path(answer["markdown"]).read_text(encoding="utf-8")
    for node, (fault_name, check, step) in FAULTS.items():
        heading = re.search(rf"^### [^\n]*: ([\w, -]*, )?{check}(, [\w, -]*)?$", md, re.M)
        assert heading, f"no fault section for {check}"
        section = md[heading.start():]
        section = section[:re.search(r"\n##+ |\Z", section[4:]).start() + 4]  # to the next heading
        assert f"`kubemedic recover {step} -c {NAME} --limit {node}`" in section
        assert re.search(rf"{node} ok=\d+ changed=[1-9]\d* failed=0 unreachable=0", section)
        assert "no longer reports" in section and "**Time to repair**: " in section
        assert f"`kubemedic lab drill {fault_name} -c {NAME} --limit {node}`" in md
    # the symptom is doctor's own evidence from the real run
    evidence = next(f["evidence"] for f in incident["before"]["findings"]
                    if f["check"] == "docker-daemon-json")
    assert evidence.replace("`", "'") in md
    assert f"* Customer: {NAME}" in md and "container runtime docker" in md
    for record in _records(NAME):
        assert record in md or Path(record).name in md


def test_report_records_cover_the_runs(incident) -> None:
    for answer in incident["answers"].values():
        summary = json.loads((Path(answer["record"]) / "summary.json").read_text())
        assert summary["verb"] == "report"
        assert summary["covers"] == [Path(r).name for r in _records(NAME)]
        assert Path(answer["html"]).read_text(encoding="utf-8").count('<section class="fault') >= 2
    zh = Path(incident["answers"]["zh"]["markdown"]).read_text(encoding="utf-8")
    assert "## 故障记录" in zh and "**定位分析**" in zh


def test_the_bundles_pause_image_runs(incident) -> None:
    """The pause image of the demo bundle is a working sandbox: docker runs its static program
    (`-v` prints its version), and it stops on SIGTERM with exit 0."""
    lab = incident["lab"]
    image = "registry.k8s.io/pause:3.9"
    version = lab.ssh(N2, f"docker run --rm {image} -v", check=True).stdout
    assert version.strip() == "pause (kubemedic demo) 3.9"
    lab.ssh(N2, f"docker run -d --name km-pause-check {image} >/dev/null", check=True)
    try:
        stopped = lab.ssh(N2, "docker stop -t 5 km-pause-check >/dev/null && docker inspect "
                          "--format '{{.State.ExitCode}}' km-pause-check", check=True).stdout
        assert stopped.strip() == "0"
    finally:
        lab.ssh(N2, "docker rm -f km-pause-check")
