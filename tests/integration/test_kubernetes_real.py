"""Real Kubernetes 1.20.2 in the rehearsal lab (issue 15): one air-gapped 3-node cluster (1 master,
2 workers) for the module, bootstrapped by `kubemedic bootstrap` exactly as `kubemedic lab up
--kubernetes` gives it to an operator.

Real, no test double: kubeadm, kubelet, kubectl (.debs from the offline bundle's apt repository),
kube-apiserver, controller-manager, scheduler, etcd 3.4 and pause (images from the bundle's
archive, retagged and pushed to the private registry on node1), all built from Debian's
`kubernetes` source package by scripts/build-kubernetes (found through it: a 0.3 s cache hit once
built); docker 20.10 driven by kubelet's dockershim; Debian's bridge + host-local CNI plugins
with routes between the nodes' pod CIDRs; the nodes have no default route (no internet; shown
below). Not here: CoreDNS (not in the source) and kube-proxy (its DaemonSet is privileged, and
docker's --privileged needs a capability this machine's kernel gives to no process): both addon
phases are skipped (docs/lab.md).

Tests run in file order, like an operator's session; timings are printed (`-s`). After the
bootstrap checks, two drills on the running cluster, each ending with every node Ready: kubelet
stopped on a worker (doctor reads the real NotReady condition and names the repair), and a real
near-expiry API server certificate (recover certs-renew on the real control plane). Still to add
(written, not yet green here): reset --reinit refused while an image is missing and re-init from
local images (docs/lab.md).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import shlex
import subprocess
import tarfile
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from kubemedic import paths

pytestmark = [pytest.mark.lab, pytest.mark.slow, pytest.mark.kubernetes]

NAME = "km-k8s-real"
SUBNET = "10.77.10.0/24"
N1, N2, N3 = (f"{NAME}-node{i}" for i in (1, 2, 3))
REGISTRY = "10.77.10.11:5000"
VERSION = "v1.20.2"
KUBECTL = "kubectl --kubeconfig /etc/kubernetes/admin.conf"
API = "10.77.10.11:6443"
PKI = "/etc/kubernetes/pki"
# The certs-renew drill's fault, made with openssl on the first master: apiserver.crt issued again
# by the cluster CA (ca.key) for the same key, subject and extensions (SANs, usages), valid for
# 2 days (doctor_cert_crit_days is 7), to /root/drill-apiserver.crt.
SHORT_APISERVER_CERT = f"""set -eu
cd {PKI}
work=$(mktemp -d)
openssl x509 -x509toreq -in apiserver.crt -signkey apiserver.key -copy_extensions copyall \\
  -out $work/req.csr 2>/dev/null
openssl x509 -req -in $work/req.csr -CA ca.crt -CAkey ca.key -set_serial 0x$(openssl rand -hex 8) \\
  -days 2 -copy_extensions copyall -out /root/drill-apiserver.crt 2>/dev/null
rm -rf $work
openssl verify -CAfile ca.crt /root/drill-apiserver.crt >/dev/null
"""
# What identifies a certificate here: its fingerprint and end date.
CERT_ID = "openssl x509 -noout -fingerprint -sha256 -enddate"
CERT_NAMES = "openssl x509 -noout -subject -ext subjectAltName,keyUsage,extendedKeyUsage"
# The certificate the API server serves on its port, seen from the first master.
SERVED_CERT = f"timeout 10 openssl s_client -connect {API} </dev/null 2>/dev/null | {CERT_ID}"
# A Deployment of the pause image pulled from the private registry on every start (Always: the
# workers really pull it from node1's registry, not only use what the bundle loaded).
DEPLOYMENT = f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: sleeper, namespace: default}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: sleeper}}}}
  template:
    metadata: {{labels: {{app: sleeper}}}}
    spec:
      containers:
        - name: pause
          image: {REGISTRY}/pause:3.2
          imagePullPolicy: Always
"""
TIMINGS: dict[str, float] = {}


def timed(what: str, started: float) -> None:
    TIMINGS[what] = round(time.monotonic() - started, 1)
    print(f"[timing] {what}: {TIMINGS[what]} s", flush=True)


def km(lab, *args: str, timeout: float = 1800):
    return lab.kubemedic(*args, "-c", NAME, "--json", timeout=timeout)


def summary(result) -> dict:
    assert result.stdout.strip(), result.stderr[-3000:]
    return json.loads(result.stdout)


def kubectl_json(lab, what: str) -> dict:
    return json.loads(lab.ssh(N1, f"{KUBECTL} get {what} -o json", check=True).stdout)


def wait_for(predicate, timeout: float = 240, step: float = 3):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


def ready_nodes(lab) -> list[str]:
    nodes = kubectl_json(lab, "nodes")["items"]
    return sorted(n["metadata"]["name"] for n in nodes
                  if any(c["type"] == "Ready" and c["status"] == "True"
                         for c in n["status"]["conditions"]))


@pytest.fixture(scope="module")
def lab(lab_factory):
    started = time.monotonic()
    lab = lab_factory(NAME, nodes=3, subnet=SUBNET, outside=1, kubernetes=True)
    timed("lab up --kubernetes --no-bootstrap (nodes, bundle, air gap)", started)
    return lab


@pytest.fixture(scope="module")
def cluster(lab):
    started = time.monotonic()
    result = km(lab, "bootstrap")
    timed("first bootstrap (runtime, registry, images, kubeadm init, join, CNI)", started)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return lab


def test_nodes_have_no_internet_route(lab) -> None:
    for node in (N1, N2, N3):
        assert lab.ssh(node, "ip route show default", check=True).stdout.strip() == ""
        # the kernel refuses before a packet leaves (nothing is sent anywhere)
        probe = lab.ssh(node, "ip route get 1.1.1.1")
        assert probe.returncode != 0 and "unreachable" in probe.stderr, probe
    # an outside fetch fails: apt cannot reach the node's own Debian mirror
    fetch = lab.ssh(N2, "apt-get -o Acquire::Retries=0 -o Dir::Etc::sourceparts=- update 2>&1")
    assert "Network is unreachable" in fetch.stdout or "Temporary failure" in fetch.stdout, \
        fetch.stdout[-2000:]
    # while the lab network itself works (the dev-box reaches every node, nodes reach each other)
    lab.ssh(N2, "getent hosts >/dev/null; timeout 5 bash -c '</dev/tcp/10.77.10.11/22'",
            check=True)


def test_nodes_ready_with_the_bundle_version(cluster) -> None:
    lab = cluster
    assert wait_for(lambda: ready_nodes(lab) == [N1, N2, N3]), ready_nodes(lab)
    nodes = {n["metadata"]["name"]: n for n in kubectl_json(lab, "nodes")["items"]}
    for name, node in nodes.items():
        info = node["status"]["nodeInfo"]
        assert info["kubeletVersion"] == VERSION, name
        assert info["containerRuntimeVersion"].startswith("docker://20.10"), info
    assert "node-role.kubernetes.io/master" in nodes[N1]["metadata"]["labels"]
    # kubeadm, kubelet and kubectl came from the bundle's apt repository
    policy = lab.ssh(N2, "apt-cache policy kubelet", check=True).stdout
    assert "1.20.2-00" in policy and "file:/var/cache/kubemedic/debs" in policy, policy
    # the control plane runs from the images the bundle loaded (no pull from k8s.gcr.io)
    pods = kubectl_json(lab, "pods -n kube-system")["items"]
    images = sorted(c["image"] for p in pods for c in p["spec"]["containers"])
    assert images == sorted(f"{REGISTRY}/{i}" for i in (
        "etcd:3.4.13-0", f"kube-apiserver:{VERSION}", f"kube-controller-manager:{VERSION}",
        f"kube-scheduler:{VERSION}")), images
    assert all(p["status"]["phase"] == "Running" for p in pods)


def test_a_deployment_runs_on_the_workers(cluster) -> None:
    lab = cluster
    lab.ssh(N1, f"cat > /root/sleeper.yaml <<'EOF'\n{DEPLOYMENT}EOF\n{KUBECTL} apply -f "
                "/root/sleeper.yaml", check=True)

    def running() -> list[dict]:
        pods = kubectl_json(lab, "pods -l app=sleeper")["items"]
        up = [p for p in pods if p["status"].get("phase") == "Running"]
        return up if len(up) == 2 else []

    pods = wait_for(running)
    assert pods, lab.ssh(N1, f"{KUBECTL} describe pods -l app=sleeper").stdout[-3000:]
    assert sorted(p["spec"]["nodeName"] for p in pods) == [N2, N3]   # the master is tainted
    # each pod has an address from its node's pod CIDR (bridge + host-local)
    cidrs = {n["metadata"]["name"]: n["spec"]["podCIDR"] for n in kubectl_json(lab, "nodes")["items"]}
    for pod in pods:
        assert ipaddress.ip_address(pod["status"]["podIP"]) in \
            ipaddress.ip_network(cidrs[pod["spec"]["nodeName"]])
    # pod networks are routed between nodes: node1 reaches node2's pod bridge address
    gateway = str(next(ipaddress.ip_network(cidrs[N2]).hosts()))
    lab.ssh(N1, f"ping -c1 -W3 {gateway} >/dev/null || ip route get {gateway}", check=True)
    route = lab.ssh(N1, f"ip route show {cidrs[N2]}", check=True).stdout
    assert f"via {lab.nodes[N2]}" in route, route


def test_second_bootstrap_changes_nothing(cluster) -> None:
    started = time.monotonic()
    result = km(cluster, "bootstrap")
    timed("second bootstrap", started)
    assert result.returncode == 0, result.stdout[-4000:]
    changed = {h: r["changed"] for h, r in summary(result)["hosts"].items()}
    assert set(changed.values()) == {0}, changed


def test_check_mode_on_the_running_cluster(cluster) -> None:
    started = time.monotonic()
    result = km(cluster, "bootstrap", "--check")
    timed("bootstrap --check", started)
    assert result.returncode == 0, result.stdout[-4000:]
    changed = {h: r["changed"] for h, r in summary(result)["hosts"].items()}
    assert set(changed.values()) == {0}, changed
    assert ready_nodes(cluster) == [N1, N2, N3]


def doctor(lab, node: str) -> dict:
    """`kubemedic doctor` on one node (the cluster is read once, on the first master)."""
    result = km(lab, "doctor", "--limit", node, timeout=900)
    assert result.returncode in (0, 5), result.stdout[-3000:] + result.stderr[-3000:]
    answer = json.loads(result.stdout)
    mine = [f for f in answer["findings"] if f["host"] == node]
    print(f"[doctor {node}] " + "; ".join(
        f"{f['check']} {f['severity']}{' -> ' + f['step'] if f['step'] else ''}"
        f"{' (under ' + f['caused_by'] + ')' if f['caused_by'] else ''}" for f in mine), flush=True)
    return {f["check"]: f for f in mine}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def node_sha256(lab, node: str, path: str) -> str:
    return lab.ssh(node, f"sha256sum {path}", check=True).stdout.split()[0]


def served_cert(lab) -> str:
    """Fingerprint and end date of the certificate the API server serves ("" while it is down)."""
    result = lab.ssh(N1, SERVED_CERT, timeout=60)
    return result.stdout.strip() if result.returncode == 0 else ""


def not_after(cert_id: str) -> datetime:
    line = next(x for x in cert_id.splitlines() if x.startswith("notAfter="))
    return datetime.strptime(" ".join(line[len("notAfter="):].split()),
                             "%b %d %H:%M:%S %Y GMT").replace(tzinfo=timezone.utc)


def days_left(cert_id: str) -> float:
    return (not_after(cert_id) - datetime.now(timezone.utc)).total_seconds() / 86400


def control_plane_running(lab) -> bool:
    pods = kubectl_json(lab, "pods -n kube-system")["items"]
    return len(pods) == 4 and all(p["status"].get("phase") == "Running" and all(
        c.get("ready") for c in p["status"].get("containerStatuses") or [{}]) for p in pods)


def sleepers_running(lab) -> int:
    pods = kubectl_json(lab, "pods -l app=sleeper")["items"]
    return sum(p["status"].get("phase") == "Running" for p in pods)


def test_doctor_reads_a_worker_not_ready_and_its_repair_brings_it_back(cluster) -> None:
    """Issue 15: doctor reads the real node conditions. kubelet stopped on a worker: the API
    server marks the node NotReady (Ready=Unknown after the node monitor's grace period); doctor
    reports node-ready with the repair its cluster check maps NotReady to (after-reboot), under
    the node's own kubelet-active; that command, run as printed, brings the node back."""
    lab = cluster
    started = time.monotonic()
    lab.ssh(N3, "systemctl stop kubelet", check=True)
    assert wait_for(lambda: N3 not in ready_nodes(lab), timeout=180, step=3), ready_nodes(lab)
    timed("kubelet stopped -> node NotReady", started)

    found = doctor(lab, N3)
    ready = found.get("node-ready")
    assert ready, f"doctor found no node-ready on {N3}: {sorted(found)}"
    assert "Ready=Unknown NodeStatusUnknown" in ready["evidence"], ready
    assert ready["severity"] == "critical" and ready["step"] == "after-reboot", ready
    assert ready["command"] == f"kubemedic recover after-reboot -c {NAME} --limit {N3}", ready
    # the node's own probe names the cause: the NotReady is folded under it
    kubelet = found.get("kubelet-active")
    assert kubelet and kubelet["caused_by"] is None, (kubelet, sorted(found))
    assert ready["caused_by"] == "kubelet-active", ready

    args = shlex.split(ready["command"])
    repair = lab.kubemedic(*args[1:], "--json", timeout=900)
    assert repair.returncode == 0, repair.stdout[-3000:] + repair.stderr[-3000:]
    assert wait_for(lambda: ready_nodes(lab) == [N1, N2, N3], timeout=180, step=2), \
        ready_nodes(lab)
    after = doctor(lab, N3)
    timed("drill node NotReady: kubelet stopped -> doctor clean", started)
    left = {check: f["evidence"] for check, f in after.items()
            if check in ("node-ready", "kubelet-active")}
    assert not left, left
    assert sleepers_running(lab) == 2


def test_certs_renew_drill_on_the_real_control_plane(cluster) -> None:
    """Issue 14: recover certs-renew drilled on the real kubeadm 1.20 control plane. The fault is
    real: the API server serves a certificate signed by the cluster CA that expires in 2 days.
    doctor's kubeadm-certs check names `kubemedic recover certs-renew`; the step backs
    /etc/kubernetes up into the run record, renews, restarts the control plane; the API server
    then serves a certificate valid for a year, the re-fetched admin.conf (and root's kubeconfig
    on the master) work, and the cluster's data is intact."""
    lab = cluster
    lab.ssh(N1, f"{KUBECTL} create configmap drill-keep --from-literal=keep=precious", check=True)
    devbox_conf = paths.state_dir() / "kubeconfigs" / NAME / "admin.conf"
    devbox_before = sha256(devbox_conf.read_bytes()) if devbox_conf.is_file() else None
    before = served_cert(lab)
    assert 360 < days_left(before) < 367, before

    started = time.monotonic()
    lab.ssh(N1, SHORT_APISERVER_CERT, check=True)
    names = [lab.ssh(N1, f"{CERT_NAMES} -in {path}", check=True).stdout
             for path in (f"{PKI}/apiserver.crt", "/root/drill-apiserver.crt")]
    assert names[0] == names[1] and "IP Address:10.77.10.11" in names[0], names
    # installed, and the API server's static pod restarted (kubelet starts a new container)
    lab.ssh(N1, f"set -e; install -m 0644 /root/drill-apiserver.crt {PKI}/apiserver.crt; "
                "rm /root/drill-apiserver.crt; "
                "ids=$(docker ps -q --filter label=io.kubernetes.container.name=kube-apiserver); "
                'test "$(echo $ids | wc -w)" = 1; docker stop -t 30 $ids >/dev/null', check=True)
    short = lab.ssh(N1, f"{CERT_ID} -in {PKI}/apiserver.crt", check=True).stdout.strip()
    short_sha = node_sha256(lab, N1, f"{PKI}/apiserver.crt")
    assert 1.9 < days_left(short) < 2.01, short
    assert wait_for(lambda: served_cert(lab) == short, timeout=300, step=3), served_cert(lab)
    timed("certs-renew fault: 2-day apiserver.crt made and served", started)

    step = time.monotonic()
    found = doctor(lab, N1)
    timed("doctor names certs-renew", step)
    certs = found.get("kubeadm-certs")
    assert certs, f"doctor found no kubeadm-certs on {N1}: {sorted(found)}"
    assert certs["evidence"] == "apiserver: 2 days left", certs
    assert certs["severity"] == "critical" and certs["caused_by"] is None, certs
    assert certs["command"] == f"kubemedic recover certs-renew -c {NAME} --limit {N1}", certs

    step = time.monotonic()
    renew = km(lab, "recover", "certs-renew", "--yes")
    timed("recover certs-renew --yes", step)
    assert renew.returncode == 0, renew.stdout[-4000:] + renew.stderr[-3000:]
    problems: list[str] = []
    # /etc/kubernetes was backed up into the run record before anything changed
    backup = Path(summary(renew)["record"]) / "backups" / N1 / "kubernetes.tgz"
    with tarfile.open(backup) as archive:
        kept = archive.extractfile("etc/kubernetes/pki/apiserver.crt")
        if kept is None or sha256(kept.read()) != short_sha:
            problems.append(f"{backup}: no copy of the apiserver.crt the step replaced")
        for member in ("etc/kubernetes/pki/ca.key", "etc/kubernetes/admin.conf",
                       "etc/kubernetes/manifests/kube-apiserver.yaml"):
            if member not in archive.getnames():
                problems.append(f"{backup}: no {member}")
    # the API server serves the renewed certificate (the one on disk), valid for a year
    served = served_cert(lab)
    on_disk = lab.ssh(N1, f"{CERT_ID} -in {PKI}/apiserver.crt", check=True).stdout.strip()
    if served != on_disk or not 364 < days_left(served) < 366:
        problems.append(f"served {served!r}, on disk {on_disk!r}")
    # the renewed admin.conf reached the dev-box, and works; root's kubeconfig was renewed too
    admin = node_sha256(lab, N1, "/etc/kubernetes/admin.conf")
    devbox_after = sha256(devbox_conf.read_bytes()) if devbox_conf.is_file() else None
    if devbox_after != admin or devbox_after == devbox_before:
        problems.append(f"dev-box admin.conf {devbox_after} (before {devbox_before}), "
                        f"master's {admin}")
    if node_sha256(lab, N1, "/root/.kube/config") != admin:
        problems.append("/root/.kube/config on the master is not the renewed admin.conf")
    copy = subprocess.run(["scp", "-q", "-F", str(lab.ssh_config), str(devbox_conf),
                           f"{N1}:/root/devbox-admin.conf"], capture_output=True, text=True,
                          check=False)
    assert copy.returncode == 0, copy.stderr
    nodes = lab.ssh(N1, "kubectl --kubeconfig /root/devbox-admin.conf get nodes -o name; "
                        "rc=$?; rm -f /root/devbox-admin.conf; exit $rc")
    if nodes.returncode != 0 or sorted(nodes.stdout.split()) != [f"node/{n}" for n in (N1, N2, N3)]:
        problems.append(f"kubectl with the dev-box admin.conf: {nodes.stdout}{nodes.stderr}")
    # user data intact: the ConfigMap, and the Deployment's pods still Running
    keep = lab.ssh(N1, f"{KUBECTL} get configmap drill-keep -o jsonpath='{{.data.keep}}'")
    if keep.stdout != "precious":
        problems.append(f"ConfigMap drill-keep: {keep.stdout!r} {keep.stderr}")
    if sleepers_running(lab) != 2:
        problems.append("the sleeper Deployment's pods are not Running")
    # the whole control plane back (controller-manager and scheduler restarted too)
    step = time.monotonic()
    if not wait_for(lambda: control_plane_running(lab), timeout=180, step=3):
        problems.append(f"kube-system: {lab.ssh(N1, f'{KUBECTL} get pods -n kube-system').stdout}")
    timed("control plane Running and ready after the repair", step)

    checked = time.monotonic()
    after = doctor(lab, N1)
    timed("doctor after the repair", checked)
    timed("drill certs-renew: injection -> doctor clean", started)
    for check in ("kubeadm-certs", "kubernetes-api", "log:apiserver-refused",
                  "event:apiserver-refused"):
        left = after.get(check)
        if left and (check in ("kubeadm-certs", "kubernetes-api") or left["step"]):
            problems.append(f"doctor after the repair: {check} {left['severity']} "
                            f"{left['command']}: {left['evidence'][:200]}")
    assert ready_nodes(lab) == [N1, N2, N3]
    assert not problems, "\n".join(problems)
