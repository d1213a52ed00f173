"""Run records of a two-fault incident, written the way the CLI writes them (summary.json through
records.write_summary, doctor.json as `kubemedic doctor` writes it), for the report tests.

Two faults on a 3-node cluster: daemon.json corrupted on node1 (docker down as its symptom) and
hosts.allow broken on node3 (its subnet missing, and a duplicate rule: one repair, one fault),
both repaired by their recovery steps and verified by a clean doctor run; a warning stays open.
The second repair carries a secret the way an older or hand-made record might: in extravars and
in a failure message, unredacted; doctor's evidence carries one too.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from kubemedic.engine import records

SECRET = "hunter2-DO-NOT-LEAK"
T0 = datetime(2026, 12, 2, 1, 0, 0, tzinfo=timezone.utc)
NODES = ["acme-node1", "acme-node2", "acme-node3"]

HOSTS_YML = """all:
  children:
    cluster:
      children:
        masters:
          hosts:
            acme-node1: {ansible_host: 10.77.40.11, first_master: true}
        workers:
          hosts:
            acme-node1:
            acme-node2: {ansible_host: 10.77.40.12}
            acme-node3: {ansible_host: 10.77.40.13}
        etcd:
          hosts:
            acme-node1:
        registry:
          hosts:
            acme-node1:
        nfs_server:
          hosts:
            acme-node1:
        gpu:
          hosts:
            acme-node2: {accelerator: nvidia}
        npu:
          hosts:
            acme-node3: {accelerator: ascend}
"""
GROUP_VARS = """cluster_name: acme
cluster_subnet: 10.77.40.0/24
cluster_kubernetes_version: "1.20.2"
cluster_registry: 10.77.40.11:5000
"""


def finding(host: str, check: str, evidence: str, message: str, severity: str = "critical",
            step: str | None = None, caused_by: str | None = None) -> dict:
    return {"host": host, "check": check, "severity": severity, "evidence": evidence,
            "message": message, "step": step,
            "command": f"kubemedic recover {step} -c acme --limit {host}" if step else None,
            "caused_by": caused_by, "explains": []}


DAEMON_JSON = finding("acme-node1", "docker-daemon-json",
                      "/etc/docker/daemon.json: Expecting ',' delimiter: line 3 column 1",
                      "daemon.json does not parse: docker cannot start", step="daemon-json")
DOCKER_DOWN = finding("acme-node1", "docker-active", "docker.service: failed",
                      "docker is not running", caused_by="docker-daemon-json")
HOSTS_ALLOW = finding("acme-node3", "hosts-allow-subnet",
                      "hosts.allow admits no daemon for 10.77.40.0/24 (token=" + SECRET + ")",
                      "RPC daemons refuse the cluster subnet", step="hosts-allow")
DUPLICATE = finding("acme-node3", "hosts-allow-duplicate", "/etc/hosts.allow:2: portmap: 10.9.9.0/24",
                    "duplicate rule (same as line 1)", severity="warning", step="hosts-allow")
WARNING = finding("acme-node2", "container-log-size", "/var/lib/docker/x-json.log: 1 bytes",
                  "a container log is above the limit", severity="warning")


class Recorder:
    """Writes runs into a state dir, one minute apart unless told otherwise."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.clock = T0
        self.count = 0

    def run(self, verb: str, *, tags: list[str] | None = None, limit: str | None = None,
            rc: int = 0, seconds: float = 20.0, extravars: dict | None = None,
            hosts: dict | None = None, failures: list | None = None,
            doctor: list[dict] | None = None, checked: list[str] | None = None) -> Path:
        self.count += 1
        stamp = self.clock.strftime("%Y%m%dT%H%M%S.") + f"{self.count:06d}Z"
        record = self.state / "runs" / "acme" / f"{stamp}-{verb}"
        record.mkdir(parents=True)
        summary = records.RunSummary(
            customer="acme", verb=verb, playbook=f"{verb}.yml",
            started=self.clock.isoformat(timespec="seconds"), user="oncall", devbox="devbox-7",
            tags=tags or [], limit=limit, extravars=extravars or {"kubemedic_customer": "acme"},
            status="successful", rc=rc, duration_seconds=seconds,
            hosts={h: records.HostResult(**c) for h, c in (hosts or {}).items()},
            failures=failures or [])
        records.write_summary(record, summary)
        if doctor is not None:
            answer = {"findings": doctor, "hosts": checked or NODES, "record": str(record),
                      "rc": rc}
            (record / "doctor.json").write_text(json.dumps(answer), encoding="utf-8")
        self.clock += timedelta(seconds=60)
        return record


def write_inventory(inventories: Path) -> None:
    root = inventories / "acme"
    (root / "group_vars").mkdir(parents=True)
    (root / "hosts.yml").write_text(HOSTS_YML)
    (root / "group_vars" / "all.yml").write_text(GROUP_VARS)


def two_fault_incident(state: Path, inventories: Path) -> dict[str, Path]:
    write_inventory(inventories)
    rec = Recorder(state)
    ok = {h: {"ok": 5} for h in NODES}
    out = {
        "drill": rec.run("lab-drill", tags=["daemon-json-corrupted"], limit="acme-node1",
                         hosts={"acme-node1": {"ok": 3, "changed": 2}}),
        "doctor1": rec.run("doctor", rc=5, hosts=ok,
                           doctor=[DAEMON_JSON, DOCKER_DOWN, DUPLICATE, HOSTS_ALLOW, WARNING]),
        "fix1": rec.run("recover-daemon-json", tags=["daemon-json"], limit="acme-node1",
                        hosts={"acme-node1": {"ok": 9, "changed": 3}}),
        "fix2": rec.run("recover-hosts-allow", tags=["hosts-allow"], limit="acme-node3",
                        extravars={"registry_password": SECRET, "nfs_allowed": "10.77.40.0/24"},
                        hosts={"acme-node3": {"ok": 7, "changed": 2}},
                        failures=[{"host": "acme-node3", "task": "x", "outcome": "ok",
                                   "message": f"--password {SECRET}"}]),
        "doctor2": rec.run("doctor", rc=0, hosts=ok, doctor=[WARNING]),
    }
    return out
