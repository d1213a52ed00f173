"""The destructive Kubernetes lifecycle on a real Kubernetes 1.20.2 cluster (issues 15 and 14):
reset --reinit refused while an image is missing then re-init from local images, the kube-reset
drill, node remove then add, and the master-ip-change drill.

One air-gapped 3-node cluster (1 master, 2 workers) for the module, from `lab up --kubernetes`
and `kubemedic bootstrap`, as tests/integration/test_kubernetes_real.py has it (docs/lab.md "A
real Kubernetes 1.20 cluster"). Real, no test double: kubeadm, kubelet, kubectl, the control
plane, etcd 3.4, docker through dockershim, the private registry on node1, the bridge CNI; the
nodes have no default route (no internet), so every image kubeadm uses comes from the node or
the private registry.

Tests run in file order, like an operator's session, each leaving the cluster Ready:
1. `reset --reinit` refused while kube-scheduler is neither on node1 nor in the registry
   (untagged on the node, its manifest deleted from the registry): exit 3 naming the image,
   nothing reset. The image back as the refusal says (`bootstrap --tags offline-images`), then
   `reset --reinit --limit node1,node2` (node3 left out, as when a worker is down during a
   rebuild): backups first (etcd snapshot holding the old cluster's objects, /etc/kubernetes),
   kubeadm reset, init from local images, node2 joins again, a Deployment Running again.
2. kube-reset drill: node3 still holds the old cluster's kubeadm state (its CA is not the new
   cluster's: kubelet cannot register). doctor names kube-reset with the join; the printed
   command resets node3 (backup first) and joins it; node3 Ready, doctor clean for it.
3. `node remove node3` (drained, deleted, reset) then `node add node3`: Ready again.
4. master-ip-change drill: node1 gets a new address on the lab network (`podman network
   disconnect` + `connect --ip`, as a changed netplan does), the inventory gets it (node1's
   ansible_host, and cluster_registry: the registry is on node1). doctor names master-ip-change
   from the API server's advertise address; the printed command rebuilds the cluster. User data
   here means what a rebuild keeps by design: files on the nodes, the private registry's
   content (pulled again at its new address), and the old cluster's etcd data in the run record
   (etcd cannot start on the old address, so no snapshot can be taken: its data folder is
   archived before kubeadm reset empties it; the ConfigMap made before is in it). Kubernetes
   objects themselves do not survive a rebuild: the seed's procedure (001) is a reinstall.
Timings are printed (`-s`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from kubemedic import paths
from tests.integration import kube_real_helpers as helpers
from tests.integration import mttr
from tests.integration.kube_real_helpers import (
    KUBECTL,
    node_sha256,
    registry,
    sha256,
    summary,
    wait_for,
)

pytestmark = [pytest.mark.lab, pytest.mark.slow, pytest.mark.kubernetes]

NAME = "km-k8s-life"
SUBNET = "10.77.80.0/24"
N1, N2, N3 = (f"{NAME}-node{i}" for i in (1, 2, 3))
OLD_IP1, NEW_IP1 = "10.77.80.11", "10.77.80.31"
VERSION = "v1.20.2"
# The image made missing in the first test: one init needs (not an addon's).
MISSING = "kube-scheduler"
TIMINGS: dict[str, float] = {}


def timed(what: str, started: float) -> None:
    helpers.timed(TIMINGS, what, started)


def km(lab, *args: str, timeout: float = 1800):
    return lab.kubemedic(*args, "-c", NAME, "--json", timeout=timeout)


def kubectl_json(lab, what: str) -> dict:
    return helpers.kubectl_json(lab, N1, what)


def ready_nodes(lab) -> list[str]:
    return helpers.ready_nodes(lab, N1)


def node_names(lab) -> list[str]:
    return helpers.node_names(lab, N1)


def deploy_sleepers(lab) -> None:
    helpers.deploy_sleepers(lab, N1)


def running_sleepers(lab) -> list[dict]:
    return helpers.running_sleepers(lab, N1)


def doctor(lab, limit: str | None = None) -> dict[str, dict[str, dict]]:
    return helpers.doctor(lab, NAME, limit)


def registry_manifest(lab, name: str, tag: str, method: str = "HEAD"):
    return helpers.registry_manifest(lab, N1, name, tag, method)


@pytest.fixture(scope="module")
def lab(lab_factory):
    started = time.monotonic()
    lab = lab_factory(NAME, nodes=3, subnet=SUBNET, outside=1, kubernetes=True)
    timed("lab up --kubernetes --no-bootstrap", started)
    return lab


@pytest.fixture(scope="module")
def cluster(lab):
    started = time.monotonic()
    result = km(lab, "bootstrap")
    timed("first bootstrap", started)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert wait_for(lambda: ready_nodes(lab) == [N1, N2, N3]), ready_nodes(lab)
    deploy_sleepers(lab)
    assert wait_for(lambda: len(running_sleepers(lab)) == 2), \
        lab.ssh(N1, f"{KUBECTL} describe pods -l app=sleeper").stdout[-3000:]
    lab.ssh(N1, f"{KUBECTL} create configmap keep-me --from-literal=keep=precious --dry-run=client "
                f"-o yaml | {KUBECTL} apply -f -", check=True)
    return lab


def test_reset_reinit_refused_while_an_image_is_missing_nothing_reset(cluster) -> None:
    """Seed 000 #1: after `kubeadm reset`, init kept pulling from k8s.gcr.io. kube-scheduler is
    made missing for real: untagged on node1 (its k8s.gcr.io name stays, as after a partial load)
    and its manifest deleted from the private registry. `reset --reinit` stops before anything is
    reset, naming the image, on every node."""
    lab = cluster
    ref = f"{registry(lab)}/{MISSING}:{VERSION}"
    assert registry_manifest(lab, MISSING, VERSION).stdout.split()[0] == "200"
    lab.ssh(N1, f"docker rmi {ref} >/dev/null", check=True)
    helpers.drop_from_registry(lab, N1, MISSING, VERSION)
    before = helpers.cluster_state(lab, N1, N2)
    assert before["ready"] == [N1, N2, N3], before

    started = time.monotonic()
    result = km(lab, "reset", "--reinit", "--yes")
    timed("reset --reinit refused (image missing)", started)
    assert result.returncode == 3, result.stdout[-3000:] + result.stderr[-3000:]
    problems = helpers.refused_reinit_problems(result, ref, N1)
    assert not problems, "\n".join(problems)
    # nothing reset: the same cluster, the same kubeconfigs, the same pods
    assert helpers.cluster_state(lab, N1, N2) == before


def test_reset_reinit_from_local_images_with_backups_first(cluster) -> None:
    """The image back as the refusal says (bootstrap --tags offline-images: loaded, retagged and
    pushed from the bundle), then reset --reinit on node1 and node2 (node3 is left out, as a
    worker that is down during a rebuild; the next test repairs it). No node has an internet
    route: init runs from local images only."""
    lab = cluster
    started = time.monotonic()
    back = km(lab, "bootstrap", "--tags", "offline-images", "--limit", N1)
    timed("bootstrap --tags offline-images (the image back)", started)
    assert back.returncode == 0, back.stdout[-3000:]
    assert registry_manifest(lab, MISSING, VERSION).stdout.split()[0] == "200"
    lab.ssh(N1, f"docker image inspect {registry(lab)}/{MISSING}:{VERSION} >/dev/null", check=True)
    old_ca = node_sha256(lab, N1, "/etc/kubernetes/pki/ca.crt")
    for node in (N1, N2, N3):
        assert lab.ssh(node, "ip route show default", check=True).stdout.strip() == ""

    started = time.monotonic()
    result = km(lab, "reset", "--reinit", "--yes", "--limit", f"{N1},{N2}")
    timed("reset --reinit --limit node1,node2", started)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-3000:]
    record = Path(summary(result)["record"])
    problems = helpers.reinit_order_problems(record) + helpers.reinit_backup_problems(
        record, [N1, N2], N1, old_ca, [b"/registry/configmaps/default/keep-me",
                                        b"/registry/deployments/default/sleeper"])
    assert not problems, "\n".join(problems)
    # a new cluster: a new CA, node1 and node2 Ready, node3 not in it
    assert node_sha256(lab, N1, "/etc/kubernetes/pki/ca.crt") != old_ca
    assert wait_for(lambda: ready_nodes(lab) == [N1, N2], timeout=300), ready_nodes(lab)
    assert node_names(lab) == [N1, N2]
    assert helpers.kube_system_images(lab, N1) == helpers.control_plane_images(lab, VERSION)
    # the Deployment is the operator's to apply again (a re-init starts an empty etcd; the old
    # objects are in the snapshot above): its pods Running, pulled from the private registry
    assert lab.ssh(N1, f"{KUBECTL} get deployment sleeper").returncode != 0
    deploy_sleepers(lab)
    assert wait_for(lambda: len(running_sleepers(lab)) == 2), \
        lab.ssh(N1, f"{KUBECTL} describe pods -l app=sleeper").stdout[-3000:]
    assert {p["spec"]["nodeName"] for p in running_sleepers(lab)} == {N2}
    devbox = paths.state_dir() / "kubeconfigs" / NAME / "admin.conf"
    assert sha256(devbox.read_bytes()) == node_sha256(lab, N1, "/etc/kubernetes/admin.conf")


def test_kube_reset_drill_on_a_node_of_the_old_cluster(cluster) -> None:
    """Issue 14, recover kube-reset drilled: node3 was left out of the re-init and still holds
    the old cluster's kubeadm state (a real fault: its kubelet's CA is not the new cluster's, so
    it cannot register). doctor's kubeadm-cluster-ca names `kubemedic recover kube-reset ...
    -e kubernetes_reset_reinit=true` for node3 (before: only node-registered with `bootstrap
    --tags kubernetes-join`, which skips a node that has a kubelet.conf). The command, as printed,
    backs node3 up, resets it and joins it; node3 Ready, doctor clean for it, pods intact."""
    lab = cluster
    old_ca3 = node_sha256(lab, N3, "/etc/kubernetes/pki/ca.crt")
    cluster_ca = node_sha256(lab, N1, "/etc/kubernetes/pki/ca.crt")
    assert old_ca3 != cluster_ca
    journal = lab.ssh(N3, "journalctl -u kubelet --since -3min --no-pager | tail -50").stdout
    print(f"[node3 kubelet] {journal[-600:]}", flush=True)

    started = time.monotonic()
    stale = helpers.stale_ca_finding(lab, NAME, N3)
    assert stale["command"] == (f"kubemedic recover kube-reset -c {NAME} --limit {N3} "
                                "-e kubernetes_reset_reinit=true"), stale

    record = helpers.repaired(lab, stale["command"], TIMINGS,
                              "recover kube-reset (node3 reset and joined)", "--yes")
    problems = helpers.backup_holds(record, N3, old_ca3)
    assert not problems, problems
    assert wait_for(lambda: ready_nodes(lab) == [N1, N2, N3], timeout=240), ready_nodes(lab)
    assert node_sha256(lab, N3, "/etc/kubernetes/pki/ca.crt") == cluster_ca
    after = doctor(lab, N3).get(N3, {})
    timed("drill kube-reset: doctor -> repair -> doctor clean", started)
    left = {c: f["evidence"] for c, f in after.items()
            if c in ("kubeadm-cluster-ca", "node-registered", "node-ready", "kubelet-active")}
    assert not left, left
    # the fault (node3 left out of the re-init) is the previous test's: timed from doctor on
    mttr.record("kube-reset", N3, ["node left with the old cluster's CA"], started)
    assert len(running_sleepers(lab)) == 2
    # the pod network reaches node3 again: every node routes node3's new pod CIDR to it
    assert not helpers.pod_route_problems(lab, N1, N3, [N1, N2])


def test_node_remove_then_add_a_worker(cluster) -> None:
    """`kubemedic node remove` drains node3, deletes its Node and resets it (backup first); it
    leaves `kubectl get nodes`. `kubemedic node add` prepares it like bootstrap (the inventory's
    skipped roles skipped: the air-gapped lab has no packages for `common`) and joins it."""
    lab = cluster
    # the Deployment's pods on node3 first, so the drain moves them and the reset has real
    # leftovers to clean
    helpers.sleepers_onto(lab, N1, N3, cordoned=N2)
    before = helpers.leftovers(lab, N3)
    problems = helpers.leftover_problems(before, present=True)
    assert not problems and docker_rules(lab, N3), (before, problems)

    started = time.monotonic()
    problems = helpers.node_remove_problems(lab, NAME, N1, N3, TIMINGS)
    assert node_names(lab) == [N1, N2]
    # kubeadm reset's leftovers gone (pod volume mounts, CNI config, kubelet's and the CNI
    # plugin's iptables chains, the bridge, the pod routes), docker's own rules kept
    assert not problems and docker_rules(lab, N3), problems
    # drained: the Deployment's pods run on node2 only
    assert wait_for(lambda: len(running_sleepers(lab)) == 2
                    and {p["spec"]["nodeName"] for p in running_sleepers(lab)} == {N2})

    helpers.node_add(lab, NAME, N1, N3, [N1, N2, N3], TIMINGS)
    timed("node remove + add", started)


def docker_rules(lab, node: str) -> list[str]:
    """docker's own iptables chains (a reset must keep them)."""
    return lab.ssh(node, "{ iptables-save -t nat; iptables-save -t filter; } | "
                         "grep -oE '^:DOCKER[^ ]*' || true", check=True).stdout.split()


def test_master_ip_change_drill(cluster) -> None:
    """Issue 14, recover master-ip-change drilled (seed 001: a master IP change = rebuild). The
    fault is real: node1's address on the cluster network changes; etcd's and the API server's
    manifests, the certificates and every kubeconfig still name the old one. doctor reads the API
    server's advertise address against node1's addresses and names `kubemedic recover
    master-ip-change` (the whole cluster: no --limit). The printed command rebuilds the cluster
    from local images for the inventory's new address; the nodes are Ready on it."""
    lab = cluster
    lab.ssh(N1, f"{KUBECTL} create configmap drill-keep --from-literal=keep=precious-ip",
            check=True)
    lab.ssh(N2, "mkdir -p /srv/share && echo user-data > /srv/share/keep.txt", check=True)

    started = time.monotonic()
    helpers.master_readdressed(lab, NAME, N1, OLD_IP1, NEW_IP1, TIMINGS)
    address = helpers.master_ip_change_finding(lab, NAME, N1, OLD_IP1, NEW_IP1, TIMINGS)
    record = helpers.repaired(lab, address["command"], TIMINGS,
                              "recover master-ip-change (cluster rebuilt)", "--yes")
    problems = helpers.rebuilt_problems(lab, record, N1, [N1, N2, N3], OLD_IP1, NEW_IP1, [
        b"/registry/configmaps/default/drill-keep", b"precious-ip"])
    # user data: a file on a node
    if lab.ssh(N2, "cat /srv/share/keep.txt").stdout.strip() != "user-data":
        problems.append("/srv/share/keep.txt on node2 lost")
    assert not problems, "\n".join(problems)
    helpers.sleepers_again(lab, N1)

    step = time.monotonic()
    left = helpers.rebuilt_doctor_left(lab, NAME, N1)
    timed("doctor after the rebuild", step)
    timed("drill master-ip-change: change -> doctor clean", started)
    assert not left, left
    mttr.record("master-ip-change", N1, ["master re-addressed"], started)
    print(f"[timing] all: {json.dumps(TIMINGS)}", flush=True)
