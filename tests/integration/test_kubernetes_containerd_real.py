"""Real Kubernetes 1.20.2 on containerd (issue 15): one air-gapped 3-node cluster (1 master,
2 workers) from `lab up --kubernetes --kubernetes-runtime containerd` and `kubemedic bootstrap`,
then etcd backup/restore, reset --reinit, node remove then add, and the kube-reset,
after-reboot and master-ip-change drills on it.

Real, no test double: kubeadm, kubelet, kubectl (.debs from the bundle's apt repository),
control plane, etcd 3.4 and pause (images from the bundle's archive imported into containerd's
k8s.io namespace, retagged and pushed with ctr to the private registry on node1); kubelet
driving containerd 1.6 through its CRI (v1alpha2, `--container-runtime=remote`), with the
native snapshotter (overlay on the nodes' overlay root does not work) and the lab's runc as
containerd's runc (docs/lab.md: no negative oom_score_adj here); crictl is kubemedic's
(scripts/build-crictl, the CRI commands kubeadm runs; cri-tools is not in Debian), from the
bundle: kubeadm reset removes the pods through it; the bridge CNI with routes between the
nodes; the reboot (the node container stops and starts again: tests/integration/lab_reboot.py).
The nodes have no default route. Not here: CoreDNS and kube-proxy (addon phases skipped, as in
the docker lab).

Tests run in file order, like an operator's session; timings are printed (`-s`):
1. The open defect of docs/lab.md, for real: the first bootstrap's `kubeadm init` is made to
   time out in wait-control-plane (`-e kubernetes_control_plane_timeout_for_control_plane=1s`:
   kubeadm has written admin.conf and started kubelet, then gives up). The next bootstrap must
   not take admin.conf for a finished init: it runs the phases init never reached
   (upload-config, upload-certs, mark-control-plane, bootstrap-token, kubelet-finalize) instead
   of a second init, and the workers join.
2. Nodes Ready on containerd, the control plane from the private registry.
3. A Deployment's pods Running on the workers (pause pulled from the private registry).
4. A second bootstrap changes nothing.
5. etcd backup/restore of the cluster's own etcd (kubeadm static pod, certificates under
   /etc/kubernetes/pki/etcd): a ConfigMap made, `etcd backup`, the ConfigMap deleted, `etcd
   restore --latest`, the ConfigMap back, nodes Ready.
6. `reset --reinit` refused while kube-scheduler is neither in containerd on node1 nor in the
   registry: exit 3 naming the image, nothing reset (kubeconfigs, pods, sandboxes the same).
   A pod pinned to each worker (nodeName) gives the resets below containerd pods to remove.
7. The image back (`bootstrap --tags offline-images`), then `reset --reinit --limit
   node1,node2`: backups first, kubeadm reset with containerd's socket through kubemedic-crictl
   (`pods -q`, `stopp`, `rmp`): none of the old cluster's containers left in containerd (read
   with ctr), init from local images, node2 joins, the Deployment Running again.
8. kube-reset drill: node3, left out, holds the old cluster's CA and still runs its pinned pod;
   doctor names `recover kube-reset`, the printed command resets node3 (the pod's containers
   gone from containerd) and joins it; doctor clean, user data intact.
9. `node remove node3` (the Deployment's pods moved there first): drained, deleted, kubeadm
   reset through kubemedic-crictl: none of its pods' containers or sandboxes left in containerd,
   no task of theirs running (ctr), kubeadm reset's leftovers gone, containerd running with its
   images; then `node add node3`: Ready again.
10. after-reboot drill: a power loss of node1 and node2 (real reboots), kubelet not enabled on
    node1 (the stand-in for the seed's swap); the API refuses; doctor names `recover
    after-reboot` for node1; the printed command brings the API back; the control plane and the
    Deployment's pods run again in new containerd containers; doctor clean on every node.
11. master-ip-change drill: node1 re-addressed for real (`podman network disconnect` + `connect
    --ip`), the inventory given the new address (and the registry's, on node1); doctor names
    `recover master-ip-change`; the printed command rebuilds the cluster (kubeadm reset through
    containerd's socket on every node, the old containers gone, init on the new address, the
    workers join): every node Ready, the control plane running in containerd from the registry
    at its new address, the old etcd data (a ConfigMap) in the run record, a file on a node
    intact; recorded with mttr.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from kubemedic import paths
from tests.integration import kube_real_helpers as helpers
from tests.integration import mttr
from tests.integration.kube_real_helpers import (
    BOOT_STAMP,
    KUBECTL,
    kubectl_json,
    node_sha256,
    ready_nodes,
    registry,
    sha256,
    summary,
    task_names,
    timed,
    wait_for,
)
from tests.integration.lab_reboot import RebootStandIn

pytestmark = [pytest.mark.lab, pytest.mark.slow, pytest.mark.kubernetes]

NAME = "km-k8s-ctrd"
SUBNET = "10.77.90.0/24"
N1, N2, N3 = (f"{NAME}-node{i}" for i in (1, 2, 3))
OLD_IP1, NEW_IP1 = "10.77.90.11", "10.77.90.31"
VERSION = "v1.20.2"
MARKER = "/etc/kubernetes/kubemedic-init-done"
FINISHED_PHASES = ["upload-config all", "upload-certs --upload-certs", "mark-control-plane",
                   "bootstrap-token", "kubelet-finalize all"]
# The image made missing in the reset --reinit refusal: one init needs (not an addon's).
MISSING = "kube-scheduler"
SOCKET = "unix:///run/containerd/containerd.sock"
CRICTL = f"crictl -r {SOCKET}"
# A pod bound to a node by name (no scheduler): the reset tests need a containerd pod on each
# worker, which the Deployment's spreading (a preference) does not promise.
PINNED_POD = """apiVersion: v1
kind: Pod
metadata: {{name: pinned-{node}, namespace: default, labels: {{app: pinned}}}}
spec:
  nodeName: {node}
  containers:
    - name: pause
      image: {registry}/pause:3.2
"""
TIMINGS: dict[str, float] = {}
RUNS: dict[str, object] = {}


def km(lab, *args: str, timeout: float = 2400):
    return lab.kubemedic(*args, "-c", NAME, "--json", timeout=timeout)


def ready(lab) -> list[str]:
    return ready_nodes(lab, N1)


def running_sleepers(lab) -> list[dict]:
    return helpers.running_sleepers(lab, N1)


def doctor(lab, limit: str | None = None) -> dict[str, dict[str, dict]]:
    return helpers.doctor(lab, NAME, limit)


def containerd_ids(lab, node: str) -> set[str]:
    """Every container containerd keeps in kubelet's namespace (pod sandboxes are containers
    too), read with containerd's own ctr, not with kubemedic-crictl."""
    return set(lab.ssh(node, "ctr -n k8s.io containers ls -q", check=True).stdout.split())


def running_tasks(lab, node: str) -> set[str]:
    """Containers whose task (process) containerd runs now."""
    lines = lab.ssh(node, "ctr -n k8s.io tasks ls", check=True).stdout.splitlines()[1:]
    return {f[0] for f in (line.split() for line in lines) if len(f) >= 3 and f[2] == "RUNNING"}


def ready_sandboxes(lab, node: str) -> dict[str, str]:
    """Pod sandboxes kubemedic-crictl lists as ready: id -> pod name."""
    lines = lab.ssh(node, f"{CRICTL} pods", check=True).stdout.splitlines()[1:]
    return {f[0]: f[1] for f in (line.split() for line in lines)
            if len(f) >= 4 and f[3] == "SANDBOX_READY"}


def container_ids(pods: list[dict]) -> set[str]:
    return {c["containerID"].removeprefix("containerd://") for p in pods
            for c in p["status"].get("containerStatuses") or [] if c.get("containerID")}


def pin_pods(lab, nodes: tuple[str, ...]) -> dict[str, str]:
    """A pinned pod on each of NODES, Running; its container id by node."""
    for node in nodes:
        manifest = PINNED_POD.format(node=node, registry=registry(lab))
        lab.ssh(N1, f"{KUBECTL} apply -f - <<'EOF'\n{manifest}EOF", check=True)

    def running() -> dict[str, str]:
        result = lab.ssh(N1, f"{KUBECTL} get pods -l app=pinned -o json")
        pods = json.loads(result.stdout)["items"] if result.returncode == 0 else []
        return {p["spec"]["nodeName"]: container_ids([p]).pop() for p in pods
                if p["status"].get("phase") == "Running" and container_ids([p])}

    assert wait_for(lambda: set(running()) == set(nodes), timeout=300), \
        lab.ssh(N1, f"{KUBECTL} describe pods -l app=pinned").stdout[-3000:]
    return running()


def reset_runs(record: Path) -> dict[str, dict]:
    """The `kubeadm reset -f` task's result on each host of a run record."""
    found = {}
    for path in record.glob("artifacts/*/job_events/*.json"):
        event = json.loads(path.read_text())
        data = event.get("event_data", {})
        if event.get("event") == "runner_on_ok" and \
                data.get("task") == "Kubernetes node | kubeadm reset -f":
            found[data["host"]] = data["res"]
    return found


def reset_problems(lab, record: Path, old: dict[str, set[str]]) -> list[str]:
    """kubeadm reset went through kubemedic-crictl on containerd's socket and left none of the
    containers (sandboxes included) each node had before (OLD, read with ctr)."""
    problems = []
    runs = reset_runs(record)
    for node, before in old.items():
        run = runs.get(node)
        if run is None:
            problems.append(f"{node}: no kubeadm reset in the record")
            continue
        if run["cmd"][-2:] != ["--cri-socket", SOCKET]:
            problems.append(f"{node}: {run['cmd']}")
        output = run.get("stdout", "") + run.get("stderr", "")
        if "Failed to remove containers" in output or "[reset] Stopping the kubelet" not in output:
            problems.append(f"{node}: kubeadm reset said {output[-1500:]}")
        left = before & containerd_ids(lab, node)
        if left:
            problems.append(f"{node}: containers of the old cluster still in containerd: {left}")
    return problems


@pytest.fixture(scope="module")
def lab(lab_factory):
    started = time.monotonic()
    lab = lab_factory(NAME, nodes=3, subnet=SUBNET, outside=1, kubernetes=True,
                      kubernetes_runtime="containerd")
    timed(TIMINGS, "lab up --kubernetes --kubernetes-runtime containerd", started)
    return lab


@pytest.fixture(scope="module")
def cluster(lab):
    """The half-done init then the bootstrap that finishes it (their results in RUNS)."""
    started = time.monotonic()
    first = km(lab, "bootstrap", "-e", "kubernetes_control_plane_timeout_for_control_plane=1s")
    timed(TIMINGS, "first bootstrap (kubeadm init times out)", started)
    RUNS["first"] = first
    RUNS["after_first"] = {
        "admin.conf": lab.ssh(N1, "test -s /etc/kubernetes/admin.conf").returncode == 0,
        "marker": lab.ssh(N1, f"test -e {MARKER}").returncode == 0,
        "ca": lab.ssh(N1, "sha256sum /etc/kubernetes/pki/ca.crt").stdout.split()[:1],
        "kubelet.conf on workers": [lab.ssh(n, "test -e /etc/kubernetes/kubelet.conf").returncode
                                    == 0 for n in (N2, N3)]}
    started = time.monotonic()
    second = km(lab, "bootstrap")
    timed(TIMINGS, "bootstrap after the half-done init", started)
    RUNS["second"] = second
    assert second.returncode == 0, second.stdout[-5000:] + second.stderr[-3000:]
    return lab


def test_a_half_done_init_is_finished_not_skipped(cluster) -> None:
    lab = cluster
    first, second = RUNS["first"], RUNS["second"]
    after = RUNS["after_first"]
    # the first init really stopped half-way: admin.conf written, no marker, nobody joined
    assert first.returncode != 0, first.stdout[-3000:]
    failures = summary(first)["failures"]
    assert [(f["host"], f["task"]) for f in failures] == [
        (N1, "Kubernetes control plane | kubeadm init (certificates uploaded for extra masters)")
    ], failures
    failed = [json.loads(p.read_text())["event_data"]["res"] for p in
              Path(summary(first)["record"]).glob("artifacts/*/job_events/*.json")
              if '"runner_on_failed"' in p.read_text()]
    output = "".join(r.get("stdout", "") + r.get("stderr", "") for r in failed)
    assert '[kubeconfig] Writing "admin.conf"' in output, output[-3000:]
    assert "error execution phase wait-control-plane" in output, output[-3000:]
    assert after["admin.conf"] and not after["marker"], after
    assert after["kubelet.conf on workers"] == [False, False], after
    # the next bootstrap ran the missing phases, not a second init (the same CA)
    names = task_names(summary(second)["record"])
    assert "Kubernetes control plane | kubeadm init (certificates uploaded for extra masters)" \
        not in names, names
    ran = [name for name in names if name.startswith("Kubernetes control plane | kubeadm init phase")]
    assert ran, names
    events = sorted((json.loads(p.read_text()) for p in
                     Path(summary(second)["record"]).glob("artifacts/*/job_events/*.json")),
                    key=lambda e: e["counter"])
    phase_items = [e["event_data"]["res"]["item"] for e in events
                   if e.get("event") == "runner_item_on_ok"
                   and "kubeadm init phase" in e["event_data"].get("task", "")]
    assert phase_items == FINISHED_PHASES, phase_items
    assert lab.ssh(N1, "sha256sum /etc/kubernetes/pki/ca.crt").stdout.split()[:1] == after["ca"]
    assert lab.ssh(N1, f"test -e {MARKER}").returncode == 0
    # what those phases make, and the joins that need it
    lab.ssh(N1, f"{KUBECTL} -n kube-system get configmap kubeadm-config kubelet-config-1.20",
            check=True)
    lab.ssh(N1, f"{KUBECTL} -n kube-public get configmap cluster-info", check=True)
    node1 = kubectl_json(lab, N1, f"node {N1}")
    assert "node-role.kubernetes.io/master" in node1["metadata"]["labels"], node1["metadata"]
    assert any(t["key"] == "node-role.kubernetes.io/master" for t in node1["spec"]["taints"])
    assert wait_for(lambda: ready(lab) == [N1, N2, N3], timeout=300), ready(lab)


def test_nodes_ready_on_containerd(cluster) -> None:
    lab = cluster
    assert wait_for(lambda: ready(lab) == [N1, N2, N3]), ready(lab)
    for node in (N1, N2, N3):
        assert lab.ssh(node, "ip route show default", check=True).stdout.strip() == ""
    nodes = {n["metadata"]["name"]: n for n in kubectl_json(lab, N1, "nodes")["items"]}
    for name, node in nodes.items():
        info = node["status"]["nodeInfo"]
        assert info["kubeletVersion"] == VERSION, name
        assert info["containerRuntimeVersion"].startswith("containerd://1."), info
    flags = lab.ssh(N2, "cat /var/lib/kubelet/kubeadm-flags.env", check=True).stdout
    assert "--container-runtime=remote" in flags and "containerd.sock" in flags, flags
    # crictl (kubemedic-crictl from the bundle) lists the control plane's pods on containerd,
    # and docker runs none of them
    pods = lab.ssh(N1, "crictl -r unix:///run/containerd/containerd.sock pods", check=True).stdout
    for component in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        assert f"{component}-{N1}" in pods, pods
    assert lab.ssh(N1, "docker ps -q", check=True).stdout.strip() == ""
    policy = lab.ssh(N2, "apt-cache policy kubemedic-crictl", check=True).stdout
    assert "file:/var/cache/kubemedic/debs" in policy, policy
    # the control plane runs from the private registry's names of the bundle's images
    assert helpers.kube_system_images(lab, N1) == helpers.control_plane_images(lab, VERSION)


def test_a_deployment_runs_on_the_workers(cluster) -> None:
    lab = cluster
    helpers.deploy_sleepers(lab, N1)
    assert wait_for(lambda: len(running_sleepers(lab)) == 2, timeout=300), \
        lab.ssh(N1, f"{KUBECTL} describe pods -l app=sleeper").stdout[-3000:]
    assert {p["spec"]["nodeName"] for p in running_sleepers(lab)} <= {N2, N3}
    for pod in running_sleepers(lab):
        assert pod["status"]["containerStatuses"][0]["containerID"].startswith("containerd://")
    # pulled by containerd from the private registry (no internet route)
    for node in {p["spec"]["nodeName"] for p in running_sleepers(lab)}:
        listed = lab.ssh(node, "ctr -n k8s.io images ls -q", check=True).stdout.split()
        assert f"{registry(lab)}/pause:3.2" in listed, listed


def test_second_bootstrap_changes_nothing(cluster) -> None:
    started = time.monotonic()
    result = km(cluster, "bootstrap")
    timed(TIMINGS, "second bootstrap (no change)", started)
    assert result.returncode == 0, result.stdout[-4000:]
    changed = {h: r["changed"] for h, r in summary(result)["hosts"].items()}
    assert set(changed.values()) == {0}, changed


def test_etcd_backup_and_restore_of_the_cluster_etcd(cluster) -> None:
    lab = cluster
    lab.ssh(N1, f"{KUBECTL} create configmap keep-me --from-literal=keep=precious", check=True)
    started = time.monotonic()
    backup = km(lab, "etcd", "backup")
    timed(TIMINGS, "etcd backup", started)
    assert backup.returncode == 0, backup.stdout[-3000:] + backup.stderr[-2000:]
    lab.ssh(N1, f"{KUBECTL} delete configmap keep-me", check=True)
    lab.ssh(N1, f"{KUBECTL} create configmap made-after --from-literal=x=y", check=True)
    assert lab.ssh(N1, f"{KUBECTL} get configmap keep-me").returncode != 0

    started = time.monotonic()
    restore = km(lab, "etcd", "restore", "--latest", "--yes")
    timed(TIMINGS, "etcd restore --latest", started)
    assert restore.returncode == 0, restore.stdout[-5000:] + restore.stderr[-2000:]

    def value():
        got = lab.ssh(N1, f"{KUBECTL} get configmap keep-me -o jsonpath='{{.data.keep}}'")
        return got.stdout.strip() if got.returncode == 0 else ""

    assert wait_for(value, timeout=300) == "precious"
    assert lab.ssh(N1, f"{KUBECTL} get configmap made-after").returncode != 0
    assert wait_for(lambda: ready(lab) == [N1, N2, N3], timeout=300), ready(lab)
    # etcd is the static pod again, on the restored data, and the Deployment is intact
    etcd = kubectl_json(lab, N1, f"pod -n kube-system etcd-{N1}")
    assert etcd["status"]["phase"] == "Running", etcd["status"]
    assert wait_for(lambda: len(running_sleepers(lab)) == 2, timeout=300)


def test_reset_reinit_refused_while_an_image_is_missing_nothing_reset(cluster) -> None:
    """Seed 000 #1 on containerd: kube-scheduler made missing for real, its registry name removed
    from containerd on node1 (`ctr -n k8s.io images rm`; the k8s.gcr.io name stays, as after a
    partial import) and its manifest deleted from the private registry. `reset --reinit` stops
    before anything is reset, naming the image: the same kubeconfigs, pods and sandboxes."""
    lab = cluster
    pinned = pin_pods(lab, (N2, N3))
    RUNS["pinned"] = pinned
    ref = f"{registry(lab)}/{MISSING}:{VERSION}"
    assert ref in lab.ssh(N1, "ctr -n k8s.io images ls -q", check=True).stdout.split()
    lab.ssh(N1, f"ctr -n k8s.io images rm {ref}", check=True)
    helpers.drop_from_registry(lab, N1, MISSING, VERSION)
    before = helpers.cluster_state(lab, N1, N2)
    assert before["ready"] == [N1, N2, N3], before
    sandboxes = {n: set(ready_sandboxes(lab, n)) for n in (N1, N2, N3)}
    assert all(sandboxes.values()), sandboxes

    started = time.monotonic()
    result = km(lab, "reset", "--reinit", "--yes")
    timed(TIMINGS, "reset --reinit refused (image missing)", started)
    assert result.returncode == 3, result.stdout[-3000:] + result.stderr[-3000:]
    problems = helpers.refused_reinit_problems(result, ref, N1)
    assert not problems, "\n".join(problems)
    # nothing reset: the same cluster, kubeconfigs, pods and containerd sandboxes
    assert helpers.cluster_state(lab, N1, N2) == before
    for node, ids in sandboxes.items():
        assert ids <= set(ready_sandboxes(lab, node)), node
    for node, container in pinned.items():
        assert container in running_tasks(lab, node), node


def test_reset_reinit_from_local_images_with_backups_first(cluster) -> None:
    """The image back as the refusal says (bootstrap --tags offline-images: imported, retagged
    and pushed with ctr from the bundle), then `reset --reinit --limit node1,node2` (node3 left
    out, as a worker that is down during a rebuild; the next test repairs it): backups first,
    kubeadm reset through kubemedic-crictl on containerd's socket (`crictl -r ... pods -q`,
    `stopp`, `rmp`): no container of the old cluster left in containerd on either node (read with
    ctr), init from local images with no internet route, node2 joins, the Deployment Running."""
    lab = cluster
    started = time.monotonic()
    back = km(lab, "bootstrap", "--tags", "offline-images", "--limit", N1)
    timed(TIMINGS, "bootstrap --tags offline-images (the image back)", started)
    assert back.returncode == 0, back.stdout[-3000:]
    assert helpers.registry_manifest(lab, N1, MISSING, VERSION).stdout.split()[0] == "200"
    assert f"{registry(lab)}/{MISSING}:{VERSION}" in lab.ssh(
        N1, "ctr -n k8s.io images ls -q", check=True).stdout.split()
    old_ca = node_sha256(lab, N1, "/etc/kubernetes/pki/ca.crt")
    for node in (N1, N2, N3):
        assert lab.ssh(node, "ip route show default", check=True).stdout.strip() == ""
    old = {n: containerd_ids(lab, n) for n in (N1, N2)}
    # the old cluster's containers to remove: the control plane on node1, the pinned pod on node2
    assert any(name.startswith("kube-apiserver-") for name in ready_sandboxes(lab, N1).values())
    assert RUNS["pinned"][N2] in old[N2], old[N2]

    started = time.monotonic()
    result = km(lab, "reset", "--reinit", "--yes", "--limit", f"{N1},{N2}")
    timed(TIMINGS, "reset --reinit --limit node1,node2", started)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-3000:]
    record = Path(summary(result)["record"])
    problems = helpers.reinit_order_problems(record) + helpers.reinit_backup_problems(
        record, [N1, N2], N1, old_ca, [b"/registry/deployments/default/sleeper",
                                        b"/registry/pods/default/pinned-" + N2.encode()])
    problems += reset_problems(lab, record, old)
    assert not problems, "\n".join(problems)
    # a new cluster: a new CA, node1 and node2 Ready, node3 not in it
    assert node_sha256(lab, N1, "/etc/kubernetes/pki/ca.crt") != old_ca
    assert wait_for(lambda: ready(lab) == [N1, N2], timeout=600), ready(lab)
    assert helpers.node_names(lab, N1) == [N1, N2]
    assert helpers.kube_system_images(lab, N1) == helpers.control_plane_images(lab, VERSION)
    # the Deployment is the operator's to apply again (a re-init starts an empty etcd)
    assert lab.ssh(N1, f"{KUBECTL} get deployment sleeper").returncode != 0
    helpers.deploy_sleepers(lab, N1)
    assert wait_for(lambda: len(running_sleepers(lab)) == 2, timeout=300), \
        lab.ssh(N1, f"{KUBECTL} describe pods -l app=sleeper").stdout[-3000:]
    assert {p["spec"]["nodeName"] for p in running_sleepers(lab)} == {N2}
    for pod in running_sleepers(lab):
        assert pod["status"]["containerStatuses"][0]["containerID"].startswith("containerd://")
    devbox = paths.state_dir() / "kubeconfigs" / NAME / "admin.conf"
    assert sha256(devbox.read_bytes()) == node_sha256(lab, N1, "/etc/kubernetes/admin.conf")


def test_kube_reset_drill_on_a_node_of_the_old_cluster(cluster) -> None:
    """recover kube-reset drilled on containerd: node3 was left out of the re-init and still
    holds the old cluster's kubeadm state and its pinned pod, run by containerd (its kubelet's CA
    is not the new cluster's: it cannot register). doctor's kubeadm-cluster-ca names
    `kubemedic recover kube-reset ... -e kubernetes_reset_reinit=true` for node3; the printed
    command backs node3 up, resets it (kubeadm reset through kubemedic-crictl: the old pod's
    containers gone from containerd) and joins it; node3 Ready, doctor clean for it, user data
    (a file on node3, the Deployment's pods) intact."""
    lab = cluster
    old_ca3 = node_sha256(lab, N3, "/etc/kubernetes/pki/ca.crt")
    cluster_ca = node_sha256(lab, N1, "/etc/kubernetes/pki/ca.crt")
    assert old_ca3 != cluster_ca
    orphan = RUNS["pinned"][N3]
    assert orphan in running_tasks(lab, N3), "the old cluster's pod no longer runs on node3"
    old3 = containerd_ids(lab, N3)
    lab.ssh(N3, "mkdir -p /srv/share && echo user-data > /srv/share/keep.txt", check=True)

    started = time.monotonic()
    stale = helpers.stale_ca_finding(lab, NAME, N3)
    assert stale["command"] == (f"kubemedic recover kube-reset -c {NAME} --limit {N3} "
                                "-e kubernetes_reset_reinit=true"), stale

    record = helpers.repaired(lab, stale["command"], TIMINGS,
                              "recover kube-reset (node3 reset and joined)", "--yes")
    problems = helpers.backup_holds(record, N3, old_ca3) + reset_problems(lab, record, {N3: old3})
    assert not problems, "\n".join(problems)
    assert wait_for(lambda: ready(lab) == [N1, N2, N3], timeout=600), ready(lab)
    assert node_sha256(lab, N3, "/etc/kubernetes/pki/ca.crt") == cluster_ca
    after = doctor(lab, N3).get(N3, {})
    timed(TIMINGS, "drill kube-reset: doctor -> repair -> doctor clean", started)
    # clean: nothing critical and no repair named (on containerd doctor named pause-image for
    # docker's empty image list, and containerd-cri-unavailable for the join's restart)
    left = {c: f["evidence"] for c, f in after.items() if f["severity"] == "critical" or f["step"]}
    assert not left, left
    mttr.record("kube-reset", N3, ["node left with the old cluster's CA (containerd)"], started)
    assert orphan not in containerd_ids(lab, N3)
    assert lab.ssh(N3, "cat /srv/share/keep.txt").stdout.strip() == "user-data"
    assert len(running_sleepers(lab)) == 2
    # the pod network reaches node3 again: every node routes node3's new pod CIDR to it
    assert not helpers.pod_route_problems(lab, N1, N3, [N1, N2])


def test_node_remove_then_add_a_worker(cluster) -> None:
    """`kubemedic node remove` on containerd: node3 drained, its Node deleted, kubeadm reset
    through kubemedic-crictl on containerd's socket (backup first): none of the containers of
    node3's pods (the Deployment's, moved there first; sandboxes included) is left in
    containerd, no task of theirs runs (read with ctr); kubeadm reset's leftovers gone,
    containerd itself still running with its images. `kubemedic node add`: node3 Ready again."""
    lab = cluster
    helpers.sleepers_onto(lab, N1, N3, cordoned=N2)
    mine = container_ids([p for p in running_sleepers(lab) if p["spec"]["nodeName"] == N3])
    old3 = containerd_ids(lab, N3)
    assert len(mine) == 2 and mine <= old3 and mine <= running_tasks(lab, N3), (mine, old3)
    assert len(ready_sandboxes(lab, N3)) == 2, ready_sandboxes(lab, N3)
    before = helpers.leftovers(lab, N3)
    problems = helpers.leftover_problems(before, present=True)
    assert not problems, (before, problems)
    pause = f"{registry(lab)}/pause:3.2"

    started = time.monotonic()
    problems = helpers.node_remove_problems(lab, NAME, N1, N3, TIMINGS)
    assert helpers.node_names(lab, N1) == [N1, N2]
    # containerd's side: none of node3's pods' containers or sandboxes left, no task running,
    # containerd itself running with its images (a reset removes pods, not the runtime's state)
    left = old3 & containerd_ids(lab, N3)
    if left:
        problems.append(f"{N3}: containers of its pods still in containerd: {left}")
    tasks = old3 & running_tasks(lab, N3)
    if tasks:
        problems.append(f"{N3}: tasks of its pods still running: {tasks}")
    if lab.ssh(N3, "systemctl is-active containerd").stdout.strip() != "active":
        problems.append(f"{N3}: containerd not active after the remove")
    if pause not in lab.ssh(N3, "ctr -n k8s.io images ls -q", check=True).stdout.split():
        problems.append(f"{N3}: containerd lost {pause}")
    assert not problems, "\n".join(problems)
    # drained: the Deployment's pods run on node2 only
    assert wait_for(lambda: len(running_sleepers(lab)) == 2
                    and {p["spec"]["nodeName"] for p in running_sleepers(lab)} == {N2},
                    timeout=300), lab.ssh(N1, f"{KUBECTL} get pods -o wide").stdout

    helpers.node_add(lab, NAME, N1, N3, [N1, N2, N3], TIMINGS)
    timed(TIMINGS, "node remove + add", started)
    flags = lab.ssh(N3, "cat /var/lib/kubelet/kubeadm-flags.env", check=True).stdout
    assert "--container-runtime=remote" in flags and "containerd.sock" in flags, flags
    assert not helpers.pod_route_problems(lab, N1, N3, [N1, N2])


def test_after_reboot_drill_power_loss_of_the_master_and_a_worker(cluster) -> None:
    """recover after-reboot drilled on containerd (seed 001: after a power loss the API server
    refused connections on 6443: swapoff -a, restart kubelet). The power loss is real: node1 (the
    master) and node2 (the worker running the Deployment's pods) reboot (`systemctl reboot`
    stops their containers; RebootStandIn starts them again, as the machines come back), and
    kubelet does not start at boot on node1: it is not enabled there (kubeadm's Service-Kubelet
    warning; the stand-in for the seed's swap, which this shared kernel cannot turn on for one
    node). The API refuses; doctor's kubelet-active names `kubemedic recover after-reboot` for
    node1 with kubernetes-api under it; the printed command starts kubelet (and enables it, so
    the next power loss does not repeat this) and waits for the API; the nodes are Ready, the
    control plane and the Deployment's pods run again in new containerd containers, doctor is
    clean on every node."""
    lab = cluster
    assert {p["spec"]["nodeName"] for p in running_sleepers(lab)} == {N2}
    before = {"control plane": container_ids(kubectl_json(lab, N1, "pods -n kube-system")["items"]),
              "sleepers": container_ids(running_sleepers(lab)),
              "boot": {n: lab.ssh(n, BOOT_STAMP, check=True).stdout.strip() for n in (N1, N2)}}
    lab.ssh(N1, "systemctl disable kubelet", check=True)
    watcher = RebootStandIn([N1, N2])
    try:
        started = mttr.start()
        for node in (N1, N2):
            lab.ssh(node, "systemctl --no-block reboot")  # sshd may go before it answers

        def boot(node: str) -> str:
            try:
                return lab.ssh(node, BOOT_STAMP, timeout=30).stdout.strip()
            except subprocess.TimeoutExpired:   # the container is stopping or starting
                return ""

        def booted() -> bool:
            return all(watcher.restarts[n] >= 1 and boot(n) not in ("", before["boot"][n])
                       for n in (N1, N2))

        assert wait_for(booted, timeout=600), (watcher.restarts, before["boot"])
    finally:
        watcher.stop()
    timed(TIMINGS, "power loss: node1 and node2 rebooted", started)
    for node in (N1, N2):  # podman gives a restarted node its default route again: the air gap
        assert lab.ssh(node, "ip route del default 2>/dev/null; ip route show default",
                       check=True).stdout.strip() == ""
    assert lab.ssh(N1, "systemctl is-active kubelet").stdout.strip() != "active"
    assert lab.ssh(N1, f"{KUBECTL} get nodes --request-timeout 10s").returncode != 0

    step = time.monotonic()
    found = doctor(lab, N1).get(N1, {})
    timed(TIMINGS, "doctor names after-reboot", step)
    kubelet = found.get("kubelet-active")
    assert kubelet, f"doctor found no kubelet-active on {N1}: {sorted(found)}"
    assert kubelet["severity"] == "critical" and kubelet["caused_by"] is None, kubelet
    assert kubelet["step"] == "after-reboot", kubelet
    assert kubelet["command"] == f"kubemedic recover after-reboot -c {NAME} --limit {N1}", kubelet
    api = found.get("kubernetes-api")
    assert api and api["caused_by"] == "kubelet-active", (api, sorted(found))

    helpers.repaired(lab, kubelet["command"], TIMINGS,
                     "recover after-reboot (kubelet started, API answers)", timeout=1200)
    assert lab.ssh(N1, f"{KUBECTL} get nodes --request-timeout 30s").returncode == 0
    assert lab.ssh(N1, "systemctl is-enabled kubelet").stdout.strip() == "enabled"
    assert wait_for(lambda: ready(lab) == [N1, N2, N3], timeout=600), ready(lab)
    # containerd-run pods back after the reboot: new containers, ready, their tasks running
    # (the API's statuses are the ones from before the power loss until each kubelet reports)

    def new_containers(pods: list[dict], old: set[str]) -> set[str]:
        ids = container_ids(pods)
        return ids if ids and not ids & old and all(
            c.get("ready") for p in pods for c in p["status"].get("containerStatuses") or [{}]) \
            else set()

    def sleepers() -> set[str]:
        pods = running_sleepers(lab)
        return new_containers(pods, before["sleepers"]) if len(pods) == 2 else set()

    def control_plane() -> set[str]:
        pods = kubectl_json(lab, N1, "pods -n kube-system")["items"]
        return new_containers(pods, before["control plane"]) if len(pods) == 4 else set()

    assert wait_for(sleepers, timeout=600), lab.ssh(N1, f"{KUBECTL} get pods -o json").stdout
    assert wait_for(control_plane, timeout=600), kubectl_json(lab, N1, "pods -n kube-system")
    on2 = container_ids([p for p in running_sleepers(lab) if p["spec"]["nodeName"] == N2])
    assert on2 and on2 <= running_tasks(lab, N2), (on2, running_sleepers(lab))
    assert control_plane() <= running_tasks(lab, N1)
    after = doctor(lab)
    timed(TIMINGS, "drill after-reboot: power loss -> doctor clean", started)
    # clean on every node: nothing critical and no repair named (a worker's `6443: i/o timeout`
    # from the master's reboot named master-ip-change before)
    left = {(host, c): f["evidence"] for host, checks in after.items() for c, f in checks.items()
            if f["severity"] == "critical" or f["step"]}
    assert not left, left
    mttr.record("after-reboot", N1, ["master and a worker power-cycled, kubelet not enabled on "
                                     "the master (containerd)"], started)


def test_master_ip_change_drill(cluster) -> None:
    """recover master-ip-change drilled on containerd (seed 001: a master IP change = rebuild).
    node1's address on the cluster network changes for real (readdress); etcd's and the API
    server's manifests, the certificates and every kubeconfig still name the old one. doctor
    names `kubemedic recover master-ip-change` from the API server's advertise address; the
    printed command rebuilds the cluster from local images (kubeadm reset through containerd's
    socket on every node, the old cluster's containers gone from containerd) for the new
    address; every node Ready; the control plane runs in containerd (crictl's ready sandboxes,
    ctr's RUNNING tasks for the API's containerd:// ids) from the registry at its new address;
    user data (a file on a node, the old etcd data in the run record) intact."""
    lab = cluster
    lab.ssh(N1, f"{KUBECTL} create configmap drill-keep --from-literal=keep=precious-ip",
            check=True)
    lab.ssh(N2, "mkdir -p /srv/share && echo user-data > /srv/share/keep.txt", check=True)
    old = {n: containerd_ids(lab, n) for n in (N1, N2, N3)}

    started = mttr.start()
    helpers.master_readdressed(lab, NAME, N1, OLD_IP1, NEW_IP1, TIMINGS)
    address = helpers.master_ip_change_finding(lab, NAME, N1, OLD_IP1, NEW_IP1, TIMINGS)
    record = helpers.repaired(lab, address["command"], TIMINGS,
                              "recover master-ip-change (cluster rebuilt)", "--yes")
    problems = helpers.rebuilt_problems(lab, record, N1, [N1, N2, N3], OLD_IP1, NEW_IP1, [
        b"/registry/configmaps/default/drill-keep", b"precious-ip"])
    problems += reset_problems(lab, record, old)
    if lab.ssh(N2, "cat /srv/share/keep.txt").stdout.strip() != "user-data":
        problems.append("/srv/share/keep.txt on node2 lost")
    assert not problems, "\n".join(problems)

    # the control plane runs in containerd: each pod's containers ready with containerd:// ids,
    # their tasks RUNNING in ctr, their sandboxes ready in crictl; docker runs none
    def control_plane() -> set[str]:
        pods = kubectl_json(lab, N1, "pods -n kube-system")["items"]
        ids = container_ids(pods)
        return ids if len(pods) == 4 and len(ids) == 4 and all(
            c.get("ready") and c["containerID"].startswith("containerd://")
            for p in pods for c in p["status"].get("containerStatuses") or [{}]) else set()

    assert wait_for(control_plane, timeout=600), kubectl_json(lab, N1, "pods -n kube-system")
    assert control_plane() <= running_tasks(lab, N1), (control_plane(), running_tasks(lab, N1))
    sandboxes = ready_sandboxes(lab, N1).values()
    for component in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        assert f"{component}-{N1}" in sandboxes, sandboxes
    assert lab.ssh(N1, "docker ps -q", check=True).stdout.strip() == ""
    for pod in helpers.sleepers_again(lab, N1):
        assert pod["status"]["containerStatuses"][0]["containerID"].startswith("containerd://")

    step = time.monotonic()
    left = helpers.rebuilt_doctor_left(lab, NAME, N1)
    timed(TIMINGS, "doctor after the rebuild", step)
    timed(TIMINGS, "drill master-ip-change: change -> doctor clean", started)
    assert not left, left
    mttr.record("master-ip-change", N1, ["master re-addressed (containerd)"], started)
    print(f"[timing] module steps: {json.dumps(TIMINGS)}", flush=True)
