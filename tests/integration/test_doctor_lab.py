"""kubemedic doctor on real lab nodes (systemd + sshd podman containers, real ssh, real journald).

A clean node gives no critical finding; faults injected for real into node2's files, journal and
logs give the right recovery step; removing them makes doctor clean again; plain
ansible-playbook (the AWX path, in --check) writes the same findings. Timing of doctor over the 3
nodes is printed (pytest -s) and bounded.

What is not real here: no docker daemon runs on these nodes, so the container log is a file in
docker's json-file format written where docker keeps it; the kernel log fault is written to
/var/log/kern.log (the ring buffer is the host's on this shared kernel, so doctor does not read
it in the lab); the `kubelet` unit is a test double (a oneshot unit that only logs kubelet's swap
error and stops, as kubelet does with swap on) since no kubelet binary exists here. Swap and
inotify faults are written to the node's fstab and sysctl.d only, never applied (they would
change the shared host kernel). No Kubernetes runs in the lab: kubectl on node1 (the first
master) is the TEST DOUBLE tests/doubles/fake-kubectl, its node list (node2 NotReady) in
/etc/kubernetes/nodes.json next to a stand-in admin.conf; containerd's config.toml on node2 is a
real file with a real TOML error, parsed by the node's own Python.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.lab, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
FAKE_KUBECTL = REPO / "tests" / "doubles" / "fake-kubectl"
CID = "4f" * 32  # a docker container id

XID = "NVRM: Xid (PCI:0000:3b:00): 79, pid=0, GPU has fallen off the bus."
PROBE_LINE = ('E1123 probe: Liveness probe failed: Get \\"http://10.42.2.44:80/\\": context deadline '
              'exceeded (Client.Timeout exceeded while awaiting headers)\\n')
SWAP_LINE = ("E1123 00:00:01.1 712 server.go:302] failed to run Kubelet: running with swap on is "
             "not supported, please disable swap! or set --fail-swap-on flag to false.")
LOGDIR = f"/var/lib/docker/containers/{CID}"
FAULTS = "\n".join([
    "set -e",
    "cp /etc/fstab /root/fstab.orig",
    "echo '192.168.240.11:/srv/share /mnt/share nfs defaults,_netdev 0 0' >> /etc/fstab",
    "echo '/swapfile none swap sw 0 0' >> /etc/fstab",
    "echo 'portmap lockd mountd rquotad statd: ALL' > /etc/hosts.deny",
    "printf 'portmap: 10.9.9.0/24\\nportmap:   10.9.9.0/24\\n' > /etc/hosts.allow",
    "printf 'fs.inotify.max_user_instances = 128\\n' > /etc/sysctl.d/99-zz-lowered.conf",
    "echo 'deb [signed-by=/usr/share/keyrings/docker-gone.gpg] https://download.docker.com/linux/"
    "debian bookworm stable' > /etc/apt/sources.list.d/docker.list",
    f"echo \"$(date '+%b %d %T') km-doc-node2 kernel: {XID}\" >> /var/log/kern.log",
    f"mkdir -p {LOGDIR}",
    f"echo '{{\"log\":\"{PROBE_LINE}\",\"stream\":\"stderr\"}}' > {LOGDIR}/{CID}-json.log",
    f"truncate -s 50M {LOGDIR}/{CID}-json.log.1",
    "printf '[Service]\\nType=oneshot\\nExecStart=/bin/echo \"%s\"\\n' "
    f"'{SWAP_LINE}' > /etc/systemd/system/kubelet.service",
    "systemctl daemon-reload && systemctl start kubelet",
    "mkdir -p /etc/containerd && if [ -e /etc/containerd/config.toml ]; then "
    "cp /etc/containerd/config.toml /root/containerd-config.orig; fi",
    "printf 'version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image '"
    "'\"pause:3.9\"\n' > /etc/containerd/config.toml",
])
UNDO = "\n".join([
    "set -e",
    "cp /root/fstab.orig /etc/fstab",
    "rm -f /etc/hosts.deny /etc/hosts.allow /etc/sysctl.d/99-zz-lowered.conf",
    "rm -f /etc/apt/sources.list.d/docker.list /var/log/kern.log",
    f"rm -rf {LOGDIR} /etc/systemd/system/kubelet.service",
    "systemctl daemon-reload",
    "journalctl --rotate --quiet && journalctl --vacuum-time=1s --quiet",
    "rm -f /etc/containerd/config.toml",
    "if [ -e /root/containerd-config.orig ]; then "
    "mv /root/containerd-config.orig /etc/containerd/config.toml; fi",
])
NOT_READY = {"type": "Ready", "status": "False", "reason": "KubeletNotReady",
             "message": "container runtime network not ready: NetworkReady=false "
                        "reason:NetworkPluginNotReady message:docker: network plugin is not "
                        "ready: cni config uninitialized",
             "lastHeartbeatTime": "2026-12-01T21:58:51Z",
             "lastTransitionTime": "2026-12-01T21:40:02Z"}

# (check, severity, step) the injected faults must produce on node2.
EXPECTED = {
    ("nfs-mount", "critical", "nfs-remount"),
    ("swap-fstab", "warning", None),
    ("hosts-allow-subnet", "critical", "hosts-allow"),
    ("hosts-allow-duplicate", "warning", "hosts-allow"),
    ("inotify-limits", "warning", "inotify-limits"),
    ("apt-sources", "warning", "apt-sources-fix"),
    ("log:nvidia-xid-79", "critical", None),
    ("log:liveness-probe-timeout", "warning", "probe-timeout"),
    ("container-log-size", "warning", "disk-cleanup"),
    ("log:kubelet-swap-on", "critical", "after-reboot"),
    ("kubelet-active", "critical", "after-reboot"),
    ("containerd-config", "critical", None),
    ("node-ready", "critical", "after-reboot"),
}


@pytest.fixture(scope="module")
def lab(lab_factory):
    return lab_factory("km-doc", nodes=3, subnet="192.168.240.0/24", outside=0)


def doctor(lab, *args: str) -> tuple[int, dict, float]:
    started = time.monotonic()
    result = lab.kubemedic("doctor", "-c", lab.customer, "--json", *args)
    elapsed = time.monotonic() - started
    assert result.returncode in (0, 5), result.stdout[-3000:] + result.stderr[-3000:]
    return result.returncode, json.loads(result.stdout), elapsed


def triples(answer: dict, host: str) -> set[tuple[str, str, str | None]]:
    return {(f["check"], f["severity"], f["step"]) for f in answer["findings"]
            if f["host"] == host}


def test_clean_nodes_have_no_critical_finding_and_doctor_is_fast(lab) -> None:
    rc, answer, elapsed = doctor(lab)
    print(f"\ndoctor over {len(answer['hosts'])} nodes: {elapsed:.1f}s wall "
          f"(ansible {answer['duration_seconds']}s, probe per node {answer['probe_seconds']})")
    assert rc == 0, answer["findings"]
    assert answer["hosts"] == sorted(lab.nodes)
    assert not [f for f in answer["findings"] if f["severity"] == "critical"]
    assert Path(answer["record"], "findings", "km-doc-node1.json").is_file()
    assert json.loads(Path(answer["record"], "doctor.json").read_text())["rc"] == 0
    assert elapsed < 120  # 2 shared cores; ~10-20 s when the machine is quiet
    assert all(seconds < 10 for seconds in answer["probe_seconds"].values())


def fake_cluster(lab) -> None:
    """kubectl on the first master (node1): the test double, node2 NotReady."""
    nodes = {"km-doc-node1": {}, "km-doc-node2": {"conditions": [NOT_READY]}, "km-doc-node3": {}}
    lab.ssh("km-doc-node1", "mkdir -p /etc/kubernetes && touch /etc/kubernetes/admin.conf && "
                            "rm -f /etc/kubernetes/calls.log && cat > /etc/kubernetes/nodes.json "
                            f"<<'EOF'\n{json.dumps(nodes)}\nEOF", check=True)
    subprocess.run(["scp", "-q", "-F", str(lab.ssh_config), str(FAKE_KUBECTL),
                    "km-doc-node1:/usr/local/bin/kubectl"], check=True)


def no_cluster(lab) -> None:
    lab.ssh("km-doc-node1", "rm -rf /etc/kubernetes /usr/local/bin/kubectl", check=True)


def test_injected_faults_name_the_right_steps_then_clear(lab) -> None:
    lab.ssh("km-doc-node2", FAULTS, check=True)
    fake_cluster(lab)
    try:
        rc, answer, _elapsed = doctor(lab, "--limit", "km-doc-node2")
        assert rc == 5
        assert answer["hosts"] == ["km-doc-node2"]
        found = triples(answer, "km-doc-node2")
        assert found >= EXPECTED, sorted(EXPECTED - found)
        nfs = next(f for f in answer["findings"] if f["check"] == "nfs-mount")
        assert nfs["command"] == "kubemedic recover nfs-remount -c km-doc --limit km-doc-node2"
        assert "192.168.240.11:/srv/share" in nfs["evidence"]
        xid = next(f for f in answer["findings"] if f["check"] == "log:nvidia-xid-79")
        assert "Xid (PCI:0000:3b:00): 79" in xid["evidence"]
        assert xid["command"] == "kubemedic heal -c km-doc --limit km-doc-node2"
        toml = next(f for f in answer["findings"] if f["check"] == "containerd-config")
        assert toml["command"] == (
            "kubemedic bootstrap -c km-doc --tags container-runtime --limit km-doc-node2")
        assert "line 3" in toml["evidence"]
        # read once on node1 (not in the play: --limit), filed under node2, read-only
        ready = next(f for f in answer["findings"] if f["check"] == "node-ready")
        assert "NetworkPluginNotReady" in ready["evidence"]
        calls = lab.ssh("km-doc-node1", "cat /etc/kubernetes/calls.log", check=True).stdout
        assert calls.splitlines() == ["get nodes -o json", "get pods -A -o json",
                                      "get events -A --field-selector type=Warning -o json"]

        table = lab.kubemedic("doctor", "-c", lab.customer, "--limit", "km-doc-node2")
        assert table.returncode == 5
        assert "kubemedic recover hosts-allow -c km-doc --limit km-doc-node2" in table.stdout
        assert "critical findings" in table.stdout
    finally:
        lab.ssh("km-doc-node2", UNDO, check=True)
        no_cluster(lab)
    rc, answer, _elapsed = doctor(lab, "--limit", "km-doc-node2")
    assert rc == 0, answer["findings"]
    assert not triples(answer, "km-doc-node2") & EXPECTED


def test_plain_ansible_playbook_in_check_mode_writes_the_same_findings(lab, tmp_path) -> None:
    """The AWX / plain ansible-playbook path: same playbook, findings in kubemedic_record_dir."""
    lab.ssh("km-doc-node3", "echo '10.0.0.9:/x /mnt/x nfs4 defaults 0 0' >> /etc/fstab", check=True)
    try:
        result = subprocess.run(
            [str(Path(sys.executable).parent / "ansible-playbook"), "-i",
             str(lab.inventory / "hosts.yml"), "playbooks/doctor.yml", "--check",
             "--limit", "km-doc-node3", "-e", f"kubemedic_record_dir={tmp_path}",
             "-e", "kubemedic_customer=km-doc"],
            cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
            env={**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")})
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
        data = json.loads((tmp_path / "findings" / "km-doc-node3.json").read_text())
        assert ("nfs-mount", "critical", "nfs-remount") in {
            (f["check"], f["severity"], f["step"]) for f in data["findings"]}
        assert "changed=0" in result.stdout
    finally:
        lab.ssh("km-doc-node3", "sed -i '/10.0.0.9:/d' /etc/fstab", check=True)
