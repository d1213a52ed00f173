"""doctor's security checks (cli/kubemedic/doctor/security.py, issue 20): each exposure is named
from probe data like kubemedic_security_probe returns, critical when the port answers from outside
the cluster subnet (or, untested, when the live kubemedic table does not close it), a warning
otherwise; every finding carries a command the operator can paste (checked with the real click
CLI, as tests/unit/test_doctor_commands.py does for checks.py). Plus the filters of the steps that
close them and the probe's flag parsing. Pure functions, no doubles."""

from __future__ import annotations

import copy
import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest

from kubemedic.doctor import checks
from tests.unit.test_doctor_checks import HEALTHY, SETTINGS
from tests.unit.test_doctor_commands import assert_runnable

REPO = Path(__file__).resolve().parents[2]


def _load(kind: str, name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "plugins" / kind / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FILTERS = _load("filter", "kubemedic_security")
PROBE = _load("modules", "kubemedic_security_probe")

DEFAULT_DENY = {"table": True, "mode": "default-deny",
                "sets": {"public_tcp": ["6443"], "allowed_v4": ["192.168.100.0/24"]}}


def sock(port: int, address: str = "0.0.0.0", process: str = "x") -> dict[str, Any]:
    return {"proto": "tcp", "address": address, "port": port, "process": process}


CLEAN: dict[str, Any] = {
    "listening": [sock(22, process="sshd"), sock(10250, "*", "kubelet")],
    "kubelet": {"config": {"path": "/var/lib/kubelet/config.yaml", "exists": True,
                           "anonymous": False, "read_only_port": 0},
                "flag_files": {"/var/lib/kubelet/kubeadm-flags.env": {}}, "running": True,
                "args": {"config": ["/var/lib/kubelet/config.yaml"]}},
    "apiserver": {"manifest": "/etc/kubernetes/manifests/kube-apiserver.yaml", "exists": True,
                  "flags": {"insecure-port": ["0"]}, "running": False, "args": {}},
    "etcd": {"running": True, "source": "process", "settings": {
        "listen-client-urls": "https://127.0.0.1:2379,https://192.168.100.11:2379",
        "client-cert-auth": "true"}},
    "registry": {"config": "/etc/docker/registry/config.yml", "exists": True, "running": True,
                 "addr": ":5000", "auth": False, "tls": False},
    "docker": {"tcp_hosts": [], "tls": False, "sources": [], "running": True},
    "exports": [[3, "/share 192.168.100.0/24(rw,sync,no_subtree_check,no_root_squash)"]],
    "hosts_allow": [[1, "rpcbind portmap mountd statd lockd rquotad: 192.168.100.0/255.255.255.0"]],
    "firewall": DEFAULT_DENY,
}
TRUSTED = ["192.168.100.0/24", "192.168.100.1/32", "10.244.0.0/16", "10.96.0.0/12"]


def run(security_probe: dict[str, Any], exposure: dict[str, Any] | None = None,
        host: str = "node1") -> list[dict[str, Any]]:
    probe = copy.deepcopy(HEALTHY)
    probe["security"] = security_probe
    if exposure is not None:
        probe["exposure"] = exposure
    return checks.evaluate(host, probe, {**SETTINGS, "security_trusted_cidrs": TRUSTED,
                                         "first_master": "node1"})


def mutated(**changes: Any) -> dict[str, Any]:
    probe = copy.deepcopy(CLEAN)
    for path, value in changes.items():
        node = probe
        keys = path.split("__")
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value
    return probe


def found(findings: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f["check"]: f for f in findings if f["check"] in CHECK_NAMES}


SOURCE = (REPO / "cli" / "kubemedic" / "doctor" / "security.py").read_text()
CHECK_NAMES = set(re.findall(r'add\("([a-z-]+)"', SOURCE))
# (mutation of CLEAN, the check it must produce)
TRIGGERS: list[tuple[dict[str, Any], str]] = [
    ({"kubelet__config__anonymous": True}, "kubelet-anonymous-auth"),
    ({"kubelet__flag_files": {"/etc/default/kubelet": {"read-only-port": ["10255"]}}},
     "kubelet-read-only-port"),
    ({"apiserver__flags": {"insecure-port": ["8080"], "insecure-bind-address": ["0.0.0.0"]},
      "listening": [sock(8080, process="kube-apiserver")]}, "apiserver-insecure-port"),
    ({"etcd__settings": {"listen-client-urls": "http://0.0.0.0:2379"},
      "listening": [sock(2379, process="etcd")]}, "etcd-client-auth"),
    ({"etcd__settings": {"listen-client-urls": "https://0.0.0.0:2379",
                         "client-cert-auth": "true"},
      "firewall": {"table": False}, "listening": [sock(2379, process="etcd")]}, "etcd-exposed"),
    ({"firewall": {"table": False}, "listening": [sock(5000, "*", "docker-registry")]},
     "registry-no-auth"),
    ({"docker": {"tcp_hosts": ["tcp://0.0.0.0:2375"], "tls": False, "sources": [],
                 "running": True}}, "docker-tcp"),
    ({"exports": [[1, "/share *(rw,no_root_squash)"]]}, "nfs-exports-open"),
    ({"hosts_allow": [[4, "ALL: ALL"]]}, "hosts-allow-open"),
]


def test_a_clean_node_has_no_security_finding() -> None:
    assert found(run(CLEAN)) == {}


def test_every_check_is_triggered() -> None:
    seen = {check for mutation, check in TRIGGERS}
    assert seen == CHECK_NAMES, CHECK_NAMES ^ seen


@pytest.mark.parametrize(("mutation", "check"), TRIGGERS, ids=[c for _m, c in TRIGGERS])
def test_each_exposure_is_named_with_a_runnable_repair(mutation, check) -> None:
    findings = found(run(mutated(**mutation)))
    assert check in findings, findings
    assert_runnable(findings[check]["command"], "node1", first_master="node1")


def test_reachable_from_outside_is_critical_refused_is_a_warning() -> None:
    weak = mutated(docker={"tcp_hosts": ["tcp://0.0.0.0:2375"], "tls": False,
                           "sources": ["/etc/systemd/system/docker.service.d/tcp.conf"],
                           "running": True}, listening=[sock(2375, process="dockerd")])
    outside = {"from": "outside1", "tested": [2375], "reachable": [2375]}
    finding = found(run(weak, outside))["docker-tcp"]
    assert finding["severity"] == "critical" and "answers from outside1" in finding["evidence"]
    assert finding["command"] == "kubemedic recover docker-tcp -c acme --limit node1"
    closed = found(run(weak, {**outside, "reachable": []}))["docker-tcp"]
    assert closed["severity"] == "warning" and "refused from outside1" in closed["evidence"]


def test_untested_exposure_follows_the_live_firewall_table() -> None:
    weak = mutated(etcd__settings={"listen-client-urls": "http://0.0.0.0:2379"})
    assert found(run(weak))["etcd-client-auth"]["severity"] == "warning"  # default deny
    public = mutated(etcd__settings={"listen-client-urls": "http://0.0.0.0:2379"},
                     firewall={"table": True, "mode": "default-deny",
                               "sets": {"public_tcp": ["2000-3000"]}})
    assert found(run(public))["etcd-client-auth"]["severity"] == "critical"
    named = mutated(etcd__settings={"listen-client-urls": "http://0.0.0.0:2379"},
                    firewall={"table": True, "mode": "named-ports",
                              "sets": {"protected_tcp": ["22", "111"]}})
    assert found(run(named))["etcd-client-auth"]["severity"] == "critical"
    none = mutated(etcd__settings={"listen-client-urls": "http://0.0.0.0:2379"},
                   firewall={"table": False})
    assert "no kubemedic firewall" in found(run(none))["etcd-client-auth"]["evidence"]


def test_the_registry_inside_the_cluster_is_the_design() -> None:
    """No auth, but closed from outside: nothing to report (nodes pull without credentials)."""
    probe = mutated(listening=[sock(5000, "*", "docker-registry")])
    assert "registry-no-auth" not in found(run(probe))
    loopback = mutated(registry__addr="127.0.0.1:5000", firewall={"table": False})
    assert "registry-no-auth" not in found(run(loopback))


def test_loopback_and_tls_are_not_exposures() -> None:
    assert "docker-tcp" not in found(run(mutated(docker={
        "tcp_hosts": ["tcp://0.0.0.0:2376"], "tls": True, "sources": [], "running": True})))
    assert "etcd-client-auth" not in found(run(mutated(etcd__settings={
        "listen-client-urls": "http://127.0.0.1:2379"})))
    ok = mutated(hosts_allow=[[1, "sshd: 10.9.8.7"], [2, "rpcbind: 127.0.0.1 192.168.100."]])
    assert "hosts-allow-open" not in found(run(ok))
    squash = mutated(exports=[[1, "/share 10.0.0.0/8(rw,root_squash) 192.168.100.0/24(rw,no_root_squash)"]])
    assert "nfs-exports-open" not in found(run(squash))
    wide = mutated(exports=[[1, "/share 10.0.0.0/8(rw,no_root_squash)"]])
    assert "outside the cluster" in found(run(wide))["nfs-exports-open"]["evidence"]


def test_a_bare_kubelet_has_the_flags_defaults() -> None:
    """kubelet 1.20 without --config: anonymous auth on and 10255 open by default."""
    bare = mutated(kubelet={"config": {"exists": False}, "flag_files": {}, "running": True,
                            "args": {}})
    assert {"kubelet-anonymous-auth", "kubelet-read-only-port"} <= set(found(run(bare)))


def test_public_ports_are_the_non_loopback_tcp_listeners() -> None:
    probe = {"listening": [sock(22), sock(53, "127.0.0.53"), sock(2379, "::1"),
                           sock(10250, "*"), {"proto": "udp", "address": "0.0.0.0", "port": 5353,
                                              "process": "x"}]}
    assert FILTERS.kubemedic_security_ports(probe) == [22, 10250]


def test_kubelet_harden_filter() -> None:
    text = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n" \
           "authentication:\n  anonymous:\n    enabled: true\nreadOnlyPort: 10255\n"
    hardened = FILTERS.kubemedic_kubelet_harden(text)
    assert "enabled: false" in hardened and "readOnlyPort: 0" in hardened
    assert FILTERS.kubemedic_kubelet_harden(hardened) == hardened


def test_docker_without_tcp_filter() -> None:
    text = '{"hosts": ["unix:///var/run/docker.sock", "tcp://0.0.0.0:2375"], "log-driver": "json-file"}'
    out = FILTERS.kubemedic_docker_without_tcp(text)
    assert "tcp://" not in out and "unix:///var/run/docker.sock" in out and "log-driver" in out
    assert FILTERS.kubemedic_docker_without_tcp(out) == out
    tls = '{"hosts": ["tcp://0.0.0.0:2376"], "tlsverify": true}'
    assert FILTERS.kubemedic_docker_without_tcp(tls) == tls


def test_probe_reads_flags_from_command_lines_and_files() -> None:
    assert PROBE._flags(["-H", "fd://", "-H", "tcp://0.0.0.0:2375", "--tlsverify"]) == {
        "H": ["fd://", "tcp://0.0.0.0:2375"], "tlsverify": ["true"]}
    env = 'KUBELET_KUBEADM_ARGS="--network-plugin=cni --anonymous-auth=true --read-only-port=10255"'
    flags = PROBE._file_flags(env)
    assert flags["anonymous-auth"] == ["true"] and flags["read-only-port"] == ["10255"]
    manifest = "  - command:\n    - kube-apiserver\n    - --insecure-port=8080\n"
    assert PROBE._file_flags(manifest)["insecure-port"] == ["8080"]
