"""A real repair cut short on lab nodes: Ctrl-C (SIGINT) mid-run, and a node dropping mid-run.

One lab (km-in-cut: 3 cluster nodes on 10.77.50.0/24, its outside network 10.77.51.0/24 unused).
The step is `recover apt-sources-fix` (its first task runs `apt-get update` on every node). To
have a task that is certainly still running when the test acts, the TEST DOUBLE
tests/integration/doubles/fake-apt-get-gate is installed as /usr/local/bin/apt-get (first on
root's PATH over ssh): it waits while /run/kubemedic-gate exists, then runs the real apt-get.
The test waits until the double has started on every node (it writes its pid), then acts:
1. while the run holds the customer's lock, a second mutating run exits 7 naming it (pid,
   --wait) and `history` still answers; then SIGINT to the kubemedic process: exit 8, the
   record says "interrupted" with the task in flight on each node; the next doctor names the
   run and the command to re-run; re-running it completes (exit 0) and the finding is gone.
2. `podman stop` of node3 while the task runs there: node1 and node2 finish, exit 4, the record
   names node3 and the task it was lost at; after `podman start`, re-running completes on all.

Real: systemd, sshd, apt, ansible-runner, the CLI's signal handling and run records, podman
stopping a node. Not real: the slowness of apt-get (the gate double).
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kubemedic.engine import interruption

pytestmark = [pytest.mark.lab, pytest.mark.slow]

NAME = "km-in-cut"
SUBNET = "10.77.50.0/24"
REPO = Path(__file__).resolve().parents[2]
GATE_DOUBLE = REPO / "tests" / "integration" / "doubles" / "fake-apt-get-gate"
GATE = "/run/kubemedic-gate"
PROBE_TASK = "Apt sources | apt-get update (probe)"
COMMAND = ["recover", "apt-sources-fix", "-c", NAME, "--yes", "--json"]


@pytest.fixture(scope="module")
def lab(lab_factory):
    lab = lab_factory(NAME, nodes=3, subnet=SUBNET, outside=0)
    for node in lab.nodes:
        subprocess.run(["scp", "-q", "-F", str(lab.ssh_config), str(GATE_DOUBLE),
                        f"{node}:/usr/local/bin/apt-get"], check=True, timeout=120)
        lab.ssh(node, "chmod 0755 /usr/local/bin/apt-get", check=True)
    return lab


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "kubemedic", *args], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ))


def close_gates(lab, nodes) -> None:
    for node in nodes:
        lab.ssh(node, f"rm -f {GATE}", check=True)


def wait_in_gate(lab, nodes, process: subprocess.Popen, deadline: float = 900) -> None:
    """Until the double runs on every node (a wait, not a timing assertion)."""
    end = time.monotonic() + deadline
    waiting = set(nodes)
    while waiting and time.monotonic() < end:
        assert process.poll() is None, process.communicate()
        waiting = {n for n in waiting if lab.ssh(n, f"test -s {GATE}.entered").returncode != 0}
        time.sleep(1)
    assert not waiting, f"the step never reached apt-get on {sorted(waiting)}"


def end_leftover_doubles(lab, nodes) -> None:
    """The double a killed ansible-playbook left waiting on a node: ended by its own pid."""
    for node in nodes:
        lab.ssh(node, f"rm -f {GATE}; test -s {GATE}.entered && kill $(cat {GATE}.entered); "
                      f"rm -f {GATE}.entered; true", check=True)


def summary_of(stdout: str) -> dict:
    assert stdout.strip()
    return json.loads(stdout)


def test_ctrl_c_mid_run_is_recorded_and_doctor_names_the_repair(lab) -> None:
    nodes = sorted(lab.nodes)
    for node in nodes:
        lab.ssh(node, f"touch {GATE}; rm -f {GATE}.entered", check=True)
    process = start(*COMMAND)
    wait_in_gate(lab, nodes, process)
    # Mid-run, the customer's lock is held: a second mutating run is refused naming the holder
    # (exit 7, nothing run on any node), while a read-only verb still answers.
    second = lab.kubemedic("recover", "hosts-allow", "-c", NAME, "--yes", timeout=300)
    said = second.stdout + second.stderr
    assert second.returncode == 7, said[-3000:]
    assert f"pid {process.pid}" in said and "--wait" in said, said[-3000:]
    assert lab.kubemedic("history", "-c", NAME, "--json", timeout=300).returncode == 0
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 8, stderr
    summary = summary_of(stdout)
    assert summary["status"] == "interrupted"
    assert summary["interrupted"]["signal"] == "SIGINT"
    for node in nodes:
        assert summary["progress"][node]["in_flight"] == PROBE_TASK, summary["progress"]
    assert summary["command"] == "kubemedic " + shlex.join(COMMAND)
    record = json.loads((Path(summary["record"]) / "summary.json").read_text())
    assert record["status"] == "interrupted" and record["rc"] == 8
    end_leftover_doubles(lab, nodes)

    doctor = lab.kubemedic("doctor", "-c", NAME, "--json", timeout=1200)
    findings = [f for f in json.loads(doctor.stdout)["findings"] if f["check"] == "run-cut-short"]
    assert len(findings) == 1, doctor.stdout[-3000:]
    assert findings[0]["severity"] == "critical"
    assert f"{nodes[0]}: {PROBE_TASK}" in findings[0]["evidence"]
    rerun = shlex.split(findings[0]["command"])
    assert rerun[0] == "kubemedic" and rerun[1:] == COMMAND

    again = lab.kubemedic(*rerun[1:], timeout=1200)
    assert again.returncode == 0, again.stderr[-3000:]
    assert interruption.findings(NAME, None, lock_free=True) == []


def test_node_dropped_mid_run_others_finish_and_rerun_completes(lab) -> None:
    nodes = sorted(lab.nodes)
    lost = nodes[-1]
    for node in nodes:
        lab.ssh(node, f"touch {GATE}; rm -f {GATE}.entered", check=True)
    process = start(*COMMAND)
    try:
        wait_in_gate(lab, nodes, process)
        subprocess.run(["podman", "stop", "-t", "5", lost], check=True, capture_output=True,
                       timeout=300)
        close_gates(lab, [n for n in nodes if n != lost])
        stdout, stderr = process.communicate(timeout=1200)
    finally:
        subprocess.run(["podman", "start", lost], check=False, capture_output=True, timeout=300)
    assert process.returncode == 4, stderr[-3000:]
    summary = summary_of(stdout)
    assert summary["progress"][lost]["unreachable_at"] == PROBE_TASK
    assert summary["hosts"][lost]["unreachable"] >= 1
    for node in nodes:
        if node != lost:
            assert summary["hosts"][node]["failed"] == 0 and summary["hosts"][node]["unreachable"] == 0
            assert summary["progress"][node]["unreachable_at"] is None
            assert summary["progress"][node]["tasks_finished"] > 1
    assert any(f.get("host") == lost and f["outcome"] == "unreachable" for f in summary["failures"])
    (finding,) = interruption.findings(NAME, None, lock_free=True)
    assert finding["host"] == lost and "lost node(s) mid-run" in finding["evidence"]

    end = time.monotonic() + 300
    while time.monotonic() < end:  # the restarted node boots; its sshd may hang at first
        try:
            if lab.ssh(lost, "true", timeout=30).returncode == 0:
                break
        except subprocess.TimeoutExpired:
            pass
        time.sleep(2)
    again = lab.kubemedic(*COMMAND, timeout=1200)
    assert again.returncode == 0, again.stderr[-3000:]
    assert all(host["unreachable"] == 0 and host["failed"] == 0
               for host in summary_of(again.stdout)["hosts"].values())
    assert interruption.findings(NAME, None, lock_free=True) == []
