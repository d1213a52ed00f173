"""Defects of issue 14 reproduced on real lab nodes, each repaired by the step or path that had it.

One lab (km-def: 2 cluster nodes on 192.168.226.0/24 + 1 outside node on 192.168.227.0/24; the
subnets no other lab module uses) for the module; tests run in file order on FRESH nodes
(`bootstrap --check --diff` on fresh nodes is tests/integration/test_foundation_lab.py's):
1. hosts-allow (node2): seed 000 #6's "fix" (`ALL: ALL` in hosts.allow, hosts.deny deleted);
   the step neutralises the wildcard, restores hosts.deny, and tcpdmatch denies the outside node
   and grants a cluster address; the original file is in the run record.
2. disk-cleanup (node2): a 200 MB container log without a newline; the step finishes in seconds
   and the tail it keeps in the record is within the byte budget.
3. registry-gc (node1, after docker + registry converge): on a registry nothing was pushed to,
   the step succeeds and docker-registry is running.
4. shim-crash-capture (node1): the audit rules file has one rule per line, each parsing the way
   auditctl -R reads a rules file.

Real: systemd, sshd, apt, tcpd/tcpdmatch (libwrap's own verdicts), docker.io, Debian's
docker-registry and its garbage collector, the CLI's run records.
Not real, and why: the audit rules are not loaded with auditctl/augenrules --load: the nodes share
the host's kernel (and its audit rule list), so loading them would change the host; the role
writes the file only on such nodes (cluster_shared_kernel). The file is parsed instead.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pytest

pytestmark = [pytest.mark.lab, pytest.mark.slow]

NAME = "km-def"
SUBNET = "192.168.226.0/24"
N1, N2 = "km-def-node1", "km-def-node2"
OUTSIDE_IP = "192.168.227.11"
MARK = "kubemedic tcp_wrappers"
BUDGET = 1048576  # common_cleanup_log_tail_bytes


@pytest.fixture(scope="module")
def lab(lab_factory):
    return lab_factory(NAME, nodes=2, subnet=SUBNET, outside=1)


def summary(result: subprocess.CompletedProcess) -> dict:
    assert result.stdout.strip(), result.stderr
    return json.loads(result.stdout)


def test_hosts_allow_neutralises_a_wildcard_allow(lab) -> None:
    lab.ssh(N2, "printf 'ALL: ALL\\n' >> /etc/hosts.allow && rm -f /etc/hosts.deny", check=True)
    result = lab.kubemedic("recover", "hosts-allow", "-c", NAME, "--limit", N2, "--yes", "--json")
    info = summary(result)
    assert result.returncode == 0, (info["failures"], result.stderr[-2000:])
    allow = lab.ssh(N2, "cat /etc/hosts.allow", check=True).stdout
    assert f"# {MARK} neutralised (admits more than the cluster): ALL: ALL" in allow
    assert not [ln for ln in allow.splitlines() if ln.strip() == "ALL: ALL"]
    assert "rpcbind portmap mountd statd lockd rquotad: ALL" in lab.ssh(
        N2, "cat /etc/hosts.deny", check=True).stdout
    for daemon in ("rpcbind", "mountd"):
        outside = lab.ssh(N2, f"tcpdmatch {daemon} {OUTSIDE_IP}", check=True).stdout
        inside = lab.ssh(N2, f"tcpdmatch {daemon} {lab.nodes[N1]}", check=True).stdout
        assert "access:   denied" in outside, outside
        assert "access:   granted" in inside, inside
    backup = Path(info["record"]) / "backups" / N2 / "hosts.allow"
    assert "ALL: ALL" in [ln.strip() for ln in backup.read_text().splitlines()]


def test_disk_cleanup_keeps_a_byte_bounded_tail(lab) -> None:
    log = "/var/lib/docker/containers/c0ffee/c0ffee-json.log"
    lab.ssh(N2, f"mkdir -p {Path(log).parent} && head -c 200M /dev/zero | tr '\\0' x > {log}",
            check=True)
    result = lab.kubemedic("recover", "disk-cleanup", "-c", NAME, "--limit", N2, "--yes", "--json",
                           timeout=600)
    info = summary(result)
    assert result.returncode == 0, (info["failures"], result.stderr[-2000:])
    assert info["duration_seconds"] < 120, info["duration_seconds"]
    tail = Path(info["record"]) / "backups" / N2 / "disk-cleanup" / "c0ffee-json.log.tail"
    assert 0 < tail.stat().st_size <= BUDGET
    assert set(tail.read_text()) == {"x"}
    assert lab.ssh(N2, f"stat -c %s {log}", check=True).stdout.strip() == "0"


def test_registry_gc_on_an_empty_registry_keeps_it_running(lab) -> None:
    boot = lab.kubemedic("bootstrap", "-c", NAME, "--tags", "container-runtime,registry",
                         "--limit", N1, "--json", timeout=1200)
    assert boot.returncode == 0, (summary(boot)["failures"], boot.stderr[-2000:])
    result = lab.kubemedic("recover", "registry-gc", "-c", NAME, "--yes", "--json")
    info = summary(result)
    assert result.returncode == 0, (info["failures"], result.stderr[-2000:])
    assert lab.ssh(N1, "systemctl is-active docker-registry").stdout.strip() == "active"
    assert any("empty registry" in str(r.get("message")) for r in info["reports"]), info["reports"]


def test_shim_capture_writes_one_audit_rule_per_line(lab) -> None:
    result = lab.kubemedic("recover", "shim-crash-capture", "-c", NAME, "--limit", N1, "--yes",
                           "--json", timeout=900)
    info = summary(result)
    assert result.returncode == 0, (info["failures"], result.stderr[-2000:])
    text = lab.ssh(N1, "cat /etc/audit/rules.d/50-kubemedic-kill.rules", check=True).stdout
    assert "\\n" not in text, text
    rules = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    assert len(rules) == 2, text
    keys = []
    for rule in rules:  # auditctl -R: one rule per line, as its command-line options
        argv = shlex.split(rule)
        assert argv[:2] == ["-a", "always,exit"], rule
        options = list(zip(argv[2::2], argv[3::2], strict=True))
        assert {o for o, _ in options} == {"-F", "-S"}, rule
        assert ("-S", "kill,tkill,tgkill") in options, rule
        keys += [v.split("=", 1)[1] for o, v in options if o == "-F" and v.startswith("key=")]
    assert keys == ["trace_kill_9", "trace_kill_15"]
