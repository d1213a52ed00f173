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
near-expiry API server certificate (recover certs-renew on the real control plane); last, a
GPU worker whose device plugin (a TEST DOUBLE: tests/doubles/fake-device-plugin, the real kubelet
device plugin API) is left unregistered by a kubelet restart (recover device-plugin-restart).
Then the two verbs that drain a node, under a PodDisruptionBudget: heal (an Xid 79 line on the
GPU worker: cordon, drain, reboot, uncordon) and the kernel upgrade of a worker (cordon, drain,
install, reboot, verify, uncordon). Last, doctor on real failing pods (CrashLoopBackOff,
ImagePullBackOff) and two workload drills on the real kubelet: npu-log-configmap (a real
FailedMount) and job-path (a real ErrImageNeverPull). reset --reinit, node add/remove and the
master IP change run in test_kubernetes_lifecycle_real.py, containerd in
test_kubernetes_containerd_real.py.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import ipaddress
import itertools
import json
import shlex
import shutil
import subprocess
import tarfile
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from kubemedic import paths
from kubemedic.bundle.create import write_apt_index
from kubemedic.doctor.cluster import NOT_READY_AFTER
from tests.conftest import REPO
from tests.integration import kube_real_helpers as helpers
from tests.integration import mttr
from tests.integration.kernel_packages import host_kernel, kernel_debs
from tests.integration.kube_real_helpers import (
    KUBECTL,
    SLEEPER_DEPLOYMENT,
    node_sha256,
    sha256,
    summary,
    wait_for,
)
from tests.integration.lab_reboot import RebootStandIn

pytestmark = [pytest.mark.lab, pytest.mark.slow, pytest.mark.kubernetes]

NAME = "km-k8s-real"
SUBNET = "10.77.10.0/24"
N1, N2, N3 = (f"{NAME}-node{i}" for i in (1, 2, 3))
GPU_NODE = N2
N1_ADDRESS = "10.77.10.11"
REGISTRY = f"{N1_ADDRESS}:5000"
VERSION = "v1.20.2"
API = f"{N1_ADDRESS}:6443"
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
DEPLOYMENT = SLEEPER_DEPLOYMENT.format(registry=REGISTRY)
# Issue 20 on the real cluster: the bootstrap's firewall role (default deny) admits from outside
# the cluster only the API server's port, and only from the lab's outside network.
OUTSIDE = f"{NAME}-outside1"
OUTSIDE_NET = "10.77.11.0/24"
PUBLIC_PORTS = [{"port": 6443, "from": [OUTSIDE_NET], "name": "kubernetes-api"}]
# What kubeadm 1.20 and the roles make every node listen on (the test measures the real list with
# ss and judges all of it; these must be among what it finds).
EXPECTED_PORTS = {N1: {22, 2379, 2380, 5000, 6443, 10250}, N2: {22, 10250}, N3: {22, 10250}}
# A test image made on the dev-box without docker or a registry: Debian's busybox-static (apt-get
# download on the dev-box) as the only program of one layer, written as a docker-archive by
# scripts/pack-kubernetes' writer, loaded on node1 and pushed to the private registry.
NET_IMAGE = f"{REGISTRY}/kubemedic-test/busybox:1.35"
NET_MARKER = "kubemedic pod network"
NET_PODS = f"""apiVersion: v1
kind: Pod
metadata: {{name: net-web, namespace: default, labels: {{app: net-web}}}}
spec:
  nodeName: {N2}
  terminationGracePeriodSeconds: 1
  containers:
    - name: web
      image: {NET_IMAGE}
      imagePullPolicy: Always
      command: [/bin/busybox, httpd, -f, -p, "8080", -h, /www]
---
apiVersion: v1
kind: Pod
metadata: {{name: net-client, namespace: default, labels: {{app: net-client}}}}
spec:
  nodeName: {N3}
  terminationGracePeriodSeconds: 1
  containers:
    - name: client
      image: {NET_IMAGE}
      imagePullPolicy: Always
      command: [/bin/busybox, sleep, "3600"]
"""
# The probe-timeout drill's service: busybox httpd whose health page takes 2 s to answer, behind
# a liveness probe that waits 1 s (seed 002: rgw on a saturated LAN).
SLOW_CGI = "#!/bin/sh\nsleep 2\nprintf 'Content-Type: text/plain\\r\\n\\r\\nslow but fine\\n'\n"
# Seed 000 #11's portal: nginx as a pod on the master (host network), its default.conf from a
# ConfigMap. The image is Debian's nginx with the libraries it links (nginx_archive).
PORTAL_IMAGE = f"{REGISTRY}/kubemedic-test/nginx:1.22"
PORTAL_DEBS = ("nginx", "libc6", "libcrypt1", "libpcre2-8-0", "libssl3", "zlib1g", "busybox-static")
PORTAL_PORT = 8088
PORTAL_PAGE = "kubemedic portal"
PORTAL_NGINX_CONF = """user root;
worker_processes 1;
error_log stderr;
pid /run/nginx.pid;
events { worker_connections 64; }
http { access_log off; include /etc/nginx/conf.d/*.conf; }
"""
PORTAL_DEFAULT_CONF = (f"server {{ listen {PORTAL_PORT}; "
                       f'location / {{ return 200 "{PORTAL_PAGE}\\n"; }} }}\n')
SLOW_WEB = f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: slow-web, namespace: default}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: slow-web}}}}
  template:
    metadata: {{labels: {{app: slow-web}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: web
          image: {NET_IMAGE}
          command: [/bin/busybox, httpd, -f, -p, "8080", -h, /www]
          livenessProbe:
            httpGet: {{path: /cgi-bin/slow, port: 8080}}
            timeoutSeconds: 1
            periodSeconds: 3
            failureThreshold: 2
"""
# The device-plugin-restart drill: a TEST DOUBLE of the NVIDIA device plugin
# (tests/doubles/fake-device-plugin, the real kubelet device plugin API v1beta1, 2 fake
# nvidia.com/gpu devices) as a DaemonSet on the GPU worker, in the namespace and with the label
# the nvidia_driver role's restart looks for (its defaults, read here: defined once).
PLUGIN_IMAGE = f"{REGISTRY}/kubemedic-test/fake-device-plugin:1"
PLUGIN_RESOURCE = "nvidia.com/gpu"
PLUGIN_DEVICES = 2
NVIDIA_DEFAULTS = yaml.safe_load((REPO / "roles" / "nvidia_driver"
                                  / "defaults" / "main.yml").read_text())
PLUGIN_NAMESPACE = NVIDIA_DEFAULTS["nvidia_driver_device_plugin_namespace"]
PLUGIN_SELECTOR = NVIDIA_DEFAULTS["nvidia_driver_device_plugin_selector"]
PLUGIN_LABEL, _, PLUGIN_LABEL_VALUE = PLUGIN_SELECTOR.partition("=")
PLUGIN_DAEMONSET = f"""apiVersion: apps/v1
kind: DaemonSet
metadata: {{name: kubemedic-fake-device-plugin, namespace: {PLUGIN_NAMESPACE}}}
spec:
  selector: {{matchLabels: {{{PLUGIN_LABEL}: {PLUGIN_LABEL_VALUE}}}}}
  template:
    metadata: {{labels: {{{PLUGIN_LABEL}: {PLUGIN_LABEL_VALUE}}}}}
    spec:
      nodeSelector: {{kubernetes.io/hostname: {GPU_NODE}}}
      terminationGracePeriodSeconds: 1
      containers:
        - name: plugin
          image: {PLUGIN_IMAGE}
          imagePullPolicy: Always
          args: [-resource, {PLUGIN_RESOURCE}, -count, "{PLUGIN_DEVICES}"]
          volumeMounts: [{{name: device-plugins, mountPath: /var/lib/kubelet/device-plugins}}]
      volumes: [{{name: device-plugins, hostPath: {{path: /var/lib/kubelet/device-plugins}}}}]
"""
# From the pod on node3: the API server at node1's address (no kube-proxy, so no service IP),
# authenticated with the pod's own service account token (anonymous users may not read /api).
POD_TO_API = ("wget --no-check-certificate -q -O - --header \"Authorization: Bearer "
              "$(cat /var/run/secrets/kubernetes.io/serviceaccount/token)\" "
              f"https://{API}/api")
PROBE = r"""python3 - <<'EOF'
import concurrent.futures, json, socket
targets = json.loads('%s')
def tcp(t):
    try:
        socket.create_connection((t[0], t[1]), timeout=3).close()
        return True
    except OSError:
        return False
with concurrent.futures.ThreadPoolExecutor(32) as pool:
    result = list(pool.map(tcp, targets))
print(json.dumps([[t[0], t[1], ok] for t, ok in zip(targets, result)]))
EOF"""
OUTSIDE_VERSION = ("python3 -c \"import json, ssl, urllib.request; print(json.load(urllib.request."
                   f"urlopen('https://{API}/version', timeout=10, "
                   "context=ssl._create_unverified_context()))['gitVersion'])\"")
# ssh sessions from the dev-box opened before the first bootstrap (the firewall lands in it) and
# kept open through it: the node sends a line a second, the dev-box notes when each arrives.
SESSIONS: dict[str, tuple[subprocess.Popen, list[float]]] = {}
TIMINGS: dict[str, float] = {}


def timed(what: str, started: float) -> None:
    helpers.timed(TIMINGS, what, started)


def km(lab, *args: str, timeout: float = 1800):
    return lab.kubemedic(*args, "-c", NAME, "--json", timeout=timeout)


def kubectl_json(lab, what: str) -> dict:
    return helpers.kubectl_json(lab, N1, what)


def ready_nodes(lab) -> list[str]:
    return helpers.ready_nodes(lab, N1)


@pytest.fixture(scope="module")
def lab(lab_factory):
    started = time.monotonic()
    lab = lab_factory(NAME, nodes=3, subnet=SUBNET, outside=1, kubernetes=True)
    timed("lab up --kubernetes --no-bootstrap (nodes, bundle, air gap)", started)
    assert lab.outside == {OUTSIDE: "10.77.11.11"}, lab.outside
    with (lab.inventory / "group_vars" / "all.yml").open("a") as handle:
        handle.write("cluster_public_ports: " + json.dumps(PUBLIC_PORTS) + "\n")
    # node2 is a GPU worker for the device-plugin drill: the lab skips the nvidia roles, and a
    # test double stands in for the vendor's device plugin (keeps host order and the header)
    hosts_text = (lab.inventory / "hosts.yml").read_text()
    hosts = yaml.safe_load(hosts_text)
    children = hosts["all"]["children"]["cluster"]["children"]
    children["workers"]["hosts"][GPU_NODE]["accelerator"] = "nvidia"
    children["gpu"] = {"hosts": {GPU_NODE: None}}
    header = "".join(line for line in hosts_text.splitlines(keepends=True) if line.startswith("#"))
    (lab.inventory / "hosts.yml").write_text(header + yaml.safe_dump(hosts, sort_keys=False))
    # no GPU here: the shared kernel has no nvidia modules, docker no nvidia runtime
    # heal's drill (test_heal_drains_...): the kernel log is a file fed with a real Xid line, a
    # reboot is the node container stopping (RebootStandIn starts it again), no nvidia-smi
    (lab.inventory / "group_vars" / "gpu.yml").write_text(yaml.safe_dump(
        {"doctor_skip_checks": ["accelerator-modules", "nvidia-default-runtime"],
         "gpu_heal_log_command": "cat /var/log/kubemedic-test/kern.log",
         "gpu_heal_smi_command": "", "gpu_heal_reboot_command": "systemctl reboot",
         "gpu_heal_reboot_boot_time_command": BOOT_STAMP}))
    return lab


@pytest.fixture(scope="module")
def cluster(lab):
    for node in (N1, N2, N3):
        session = subprocess.Popen(
            ["ssh", "-F", str(lab.ssh_config), node, "while sleep 1; do echo tick; done"],
            stdout=subprocess.PIPE, text=True)
        arrivals: list[float] = []
        threading.Thread(target=lambda s=session, a=arrivals: [a.append(time.monotonic())
                                                                 for _line in s.stdout],
                         daemon=True).start()
        SESSIONS[node] = (session, arrivals)
    started = time.monotonic()
    result = km(lab, "bootstrap")
    timed("first bootstrap (runtime, registry, images, firewall, kubeadm init, join, CNI)",
          started)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    yield lab
    for session, _arrivals in SESSIONS.values():
        if session.poll() is None:
            session.terminate()


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


def listening_tcp(lab, node: str) -> dict[tuple[str, int], str]:
    """(address to probe, port) -> process, for every TCP socket the node listens on beyond
    loopback (`ss -ltnup`); a socket bound to every address is probed on the node's address."""
    out = lab.ssh(node, "ss -ltnupH", check=True).stdout
    ports: dict[tuple[str, int], str] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 5 or parts[0] != "tcp":
            continue
        address, _, port = parts[4].rpartition(":")
        address = address.strip("[]").split("%")[0]
        if address in ("*", "0.0.0.0", "::"):
            address = lab.nodes[node]
        elif ipaddress.ip_address(address).is_loopback:
            continue
        ports[(address, int(port))] = parts[6] if len(parts) > 6 else "?"
    return ports


def loopback_only(lab, node: str, port: int) -> bool:
    out = lab.ssh(node, f"ss -ltnH 'sport = :{port}'", check=True).stdout
    addresses = [line.split()[3].rpartition(":")[0].strip("[]") for line in out.splitlines()]
    return bool(addresses) and all(ipaddress.ip_address(a).is_loopback for a in addresses)


def reach(lab, prober: str, targets: list[tuple[str, int]]) -> dict[tuple[str, int], bool]:
    out = lab.ssh(prober, PROBE % json.dumps(targets), timeout=120, check=True).stdout
    return {(ip, port): ok for ip, port, ok in json.loads(out)}


def test_firewall_refuses_every_listening_port_from_outside_but_the_api(cluster) -> None:
    """Issue 20 on the real cluster: the bootstrap's firewall (default deny) is live on every
    node; every TCP port a node listens on (measured with ss: the API server, etcd's client and
    peer ports, kubelet, the registry, sshd...) is refused from the outside node on its own
    network but the API server's 6443, which the inventory admits from there and which answers
    with the cluster's version; from a cluster node every port answers. The ssh sessions the
    dev-box opened before the first bootstrap ticked through it, and fresh ones open."""
    lab = cluster
    started = time.monotonic()
    for node in (N1, N2, N3):
        table = lab.ssh(node, "nft list table inet kubemedic", check=True).stdout
        assert "default-deny" in table and 'dport 6443' in table, (node, table[-2000:])
    measured = {node: listening_tcp(lab, node) for node in (N1, N2, N3)}
    print("[listening] " + "; ".join(
        f"{node}: " + ", ".join(f"{a}:{p} {proc.split(',')[0]}" for (a, p), proc in
                                sorted(ports.items(), key=lambda i: i[0][1]))
        for node, ports in measured.items()), flush=True)
    for node, ports in measured.items():
        assert EXPECTED_PORTS[node] <= {p for _a, p in ports}, (node, ports)
    # kubeadm binds the controller-manager and the scheduler to loopback (nothing to refuse)
    assert loopback_only(lab, N1, 10257) and loopback_only(lab, N1, 10259)

    targets = [t for ports in measured.values() for t in ports]
    outside = reach(lab, OUTSIDE, targets)
    wrong = {t: ok for t, ok in outside.items() if ok != (t == (lab.nodes[N1], 6443))}
    assert not wrong, f"from {OUTSIDE} (True = connected): {wrong}; measured {measured}"
    assert lab.ssh(OUTSIDE, OUTSIDE_VERSION, check=True).stdout.strip() == VERSION
    inside = {}
    for node, prober in ((N1, N2), (N2, N1), (N3, N1)):
        inside.update(reach(lab, prober, list(measured[node])))
    assert all(inside.values()), f"refused inside the cluster: {inside}"

    # the dev-box: the sessions opened before the firewall came kept delivering a line a second
    # through the bootstrap (a gap no longer than a loaded machine's hiccup), and fresh ones open
    for node, (session, arrivals) in SESSIONS.items():
        assert session.poll() is None, f"{node}: the ssh session opened before bootstrap ended"
        gaps = [b - a for a, b in itertools.pairwise(arrivals)]
        assert len(arrivals) > 60 and max(gaps) < 15, (node, len(arrivals), max(gaps))
        session.terminate()
        assert lab.ssh(node, "true").returncode == 0
    timed("firewall from both sides (ss on 3 nodes, outside and inside probes)", started)


def _pack_module():
    """scripts/pack-kubernetes as a module: its layer and docker-archive writers."""
    script = Path(__file__).resolve().parents[2] / "scripts" / "pack-kubernetes"
    loader = importlib.machinery.SourceFileLoader("pack_kubernetes", str(script))
    spec = importlib.util.spec_from_loader("pack_kubernetes", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def link_busybox_applets(tree: Path) -> None:
    """A link to tree/bin/busybox in tree/bin for each applet the tree has no program of."""
    applets = subprocess.run([str(tree / "bin" / "busybox"), "--list"], capture_output=True,
                             text=True, check=True).stdout.split()
    for applet in applets:
        if not any((tree / folder / applet).exists() for folder in ("bin", "usr/sbin")):
            (tree / "bin" / applet).symlink_to("busybox")


def busybox_archive(work: Path) -> Path:
    """docker-archive of NET_IMAGE: Debian's busybox-static with a link per applet, /www (a page
    and SLOW_CGI)."""
    pack = _pack_module()
    subprocess.run(["apt-get", "download", "-qq", "busybox-static"], cwd=work, check=True,
                   capture_output=True)
    deb = next(work.glob("busybox-static_*.deb"))
    subprocess.run(["dpkg-deb", "-x", str(deb), str(work / "deb")], check=True)
    busybox = work / "deb" / "bin" / "busybox"
    tree = work / "tree"
    pack.write_tree(tree, {"bin/busybox": (busybox, 0o755), "tmp": (None, 0o1777),
                           "www/index.html": (NET_MARKER.encode() + b"\n", 0o644),
                           "www/cgi-bin/slow": (SLOW_CGI.encode(), 0o755),
                           "etc/passwd": (b"root:x:0:0:root:/root:/bin/sh\n", 0o644)})
    link_busybox_applets(tree)
    layer = work / "layer.tar"
    diff_id = pack.layer_from_dir(tree, layer)
    archive = work / "busybox.tar"
    pack.write_archive(archive, {"busybox": (layer, diff_id)}, [{
        "ref": NET_IMAGE, "layers": ["busybox"],
        "run": {"Cmd": ["/bin/sh"]},
        "labels": {"org.kubemedic.source": f"debian busybox-static {deb.name}"}}])
    return archive


def nginx_archive(work: Path) -> Path:
    """docker-archive of PORTAL_IMAGE: Debian's nginx and the libraries it links (the .debs of
    PORTAL_DEBS, apt-get download on the dev-box, extracted as they are) with busybox-static for
    a shell, and a minimal nginx.conf that serves /etc/nginx/conf.d/*.conf (the seed's
    default.conf, from a ConfigMap). Real nginx 1.22: its own config test, bind and errors."""
    pack = _pack_module()
    subprocess.run(["apt-get", "download", "-qq", *PORTAL_DEBS], cwd=work, check=True,
                   capture_output=True)
    tree = work / "tree"
    debs = sorted(work.glob("*.deb"))
    for deb in debs:
        subprocess.run(["dpkg-deb", "-x", str(deb), str(tree)], check=True)
    shutil.rmtree(tree / "usr" / "share")
    link_busybox_applets(tree)
    pack.write_tree(tree, {"tmp": (None, 0o1777), "run": (None, 0o755),
                           "var/log/nginx": (None, 0o755), "var/lib/nginx": (None, 0o755),
                           "etc/nginx/conf.d": (None, 0o755),
                           "etc/nginx/nginx.conf": (PORTAL_NGINX_CONF.encode(), 0o644),
                           "etc/passwd": (b"root:x:0:0:root:/root:/bin/sh\n", 0o644),
                           "etc/group": (b"root:x:0:\n", 0o644)})
    layer = work / "layer.tar"
    diff_id = pack.layer_from_dir(tree, layer)
    archive = work / "nginx.tar"
    pack.write_archive(archive, {"nginx": (layer, diff_id)}, [{
        "ref": PORTAL_IMAGE, "layers": ["nginx"],
        "run": {"Cmd": ["/usr/sbin/nginx", "-g", "daemon off;"]},
        "labels": {"org.kubemedic.source": "debian " + " ".join(d.name for d in debs)}}])
    return archive


def push_test_image(lab, make_archive, image: str) -> None:
    """An image archive made on the dev-box (make_archive(folder) -> path) loaded into node1's
    docker and pushed to its registry as `image` (the nodes have no internet and no builder)."""
    with tempfile.TemporaryDirectory(prefix="km-k8s-image.") as tmp:
        archive = make_archive(Path(tmp))
        copy = subprocess.run(["scp", "-q", "-F", str(lab.ssh_config), str(archive),
                               f"{N1}:/root/kubemedic-test-image.tar"],
                              capture_output=True, text=True, check=False)
        assert copy.returncode == 0, copy.stderr
    lab.ssh(N1, "set -e; docker load -q -i /root/kubemedic-test-image.tar >/dev/null; "
                f"docker push -q {image} >/dev/null; rm /root/kubemedic-test-image.tar",
            check=True)


def pod_exec(lab, pod: str, command: str, timeout: int = 60) -> subprocess.CompletedProcess:
    return lab.ssh(N1, f"timeout {timeout} {KUBECTL} exec {pod} -- /bin/sh -c "
                       f"{shlex.quote(command)}", timeout=timeout + 30)


def test_pod_network_works_with_the_firewall_on(cluster) -> None:
    """Issue 20: with the default-deny table live on every node, a pod on node3 reaches a pod on
    node2 (busybox httpd) across the nodes' pod routes, and the API server at node1's address
    with its service account token; both workers pulled the test image from node1's registry.
    The image is made on the dev-box (no registry, no internet for the nodes)."""
    lab = cluster
    started = time.monotonic()
    push_test_image(lab, busybox_archive, NET_IMAGE)
    lab.ssh(N1, f"cat > /root/net-pods.yaml <<'EOF'\n{NET_PODS}EOF\n{KUBECTL} apply -f "
                "/root/net-pods.yaml", check=True)
    timed("test image made on the dev-box, pushed, pods applied", started)

    def running() -> dict[str, dict]:
        pods = kubectl_json(lab, "pods -l 'app in (net-web,net-client)'")["items"]
        up = {p["metadata"]["name"]: p for p in pods if p["status"].get("phase") == "Running"}
        return up if len(up) == 2 else {}

    try:
        pods = wait_for(running, timeout=180)
        assert pods, lab.ssh(N1, f"{KUBECTL} describe pods -l 'app in (net-web,net-client)'"
                             ).stdout[-3000:]
        web_ip = pods["net-web"]["status"]["podIP"]
        assert pods["net-web"]["spec"]["nodeName"] == N2
        assert pods["net-client"]["spec"]["nodeName"] == N3
        got = pod_exec(lab, "net-client", f"wget -q -O - http://{web_ip}:8080/")
        assert got.returncode == 0 and got.stdout.strip() == NET_MARKER, got
        api = pod_exec(lab, "net-client", POD_TO_API)
        assert api.returncode == 0, api
        assert json.loads(api.stdout)["kind"] == "APIVersions", api.stdout
        # the same request without the token is refused by the API server, not by the network
        anonymous = pod_exec(lab, "net-client",
                             f"wget --no-check-certificate -q -O - https://{API}/api 2>&1")
        assert "403" in anonymous.stdout, anonymous
        for node in (N1, N2, N3):   # still the default-deny table
            assert "default-deny" in lab.ssh(node, "nft list table inet kubemedic | grep comment",
                                             check=True).stdout
    finally:
        lab.ssh(N1, f"{KUBECTL} delete pod net-web net-client --wait=false "
                    "--ignore-not-found", timeout=120)
    timed("pod network with the firewall on (pod to pod across workers, pod to API)", started)


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
    lab.ssh(N1, f"{KUBECTL} create configmap certs-drill-keep --from-literal=keep=precious",
            check=True)
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
    keep = lab.ssh(N1, f"{KUBECTL} get configmap certs-drill-keep -o jsonpath='{{.data.keep}}'")
    if keep.stdout != "precious":
        problems.append(f"ConfigMap certs-drill-keep: {keep.stdout!r} {keep.stderr}")
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
    mttr.record("certs-renew", N1, ["apiserver.crt 2 days from expiry, served"], started)
    lab.ssh(N1, f"{KUBECTL} delete configmap certs-drill-keep", check=True)


def test_probe_timeout_drill_on_a_real_deployment(cluster) -> None:
    """Seed 002 on the real cluster: a Deployment whose liveness probe waits 1 s for a health page
    that takes 2 s (busybox httpd, a CGI that sleeps). The real kubelet's probe times out and
    restarts the container; doctor reads the real Warning event, names the Deployment through
    the pod's ReplicaSet and prints `kubemedic recover probe-timeout ... -e
    kube_api_probe_namespace=default -e kube_api_probe_deployment=slow-web`; that command, run as
    printed, backs the Deployment up into the run record, raises timeoutSeconds to 5 and waits for
    the rollout; the new pod then stays up without a restart and doctor no longer names the step."""
    lab = cluster
    started = time.monotonic()
    lab.ssh(N1, f"cat > /root/slow-web.yaml <<'EOF'\n{SLOW_WEB}EOF\n{KUBECTL} apply -f "
                "/root/slow-web.yaml", check=True)

    def restarted() -> dict:
        pods = kubectl_json(lab, "pods -l app=slow-web")["items"]
        for pod in pods:
            statuses = pod["status"].get("containerStatuses") or [{}]
            if statuses[0].get("restartCount", 0) >= 1:
                return pod
        return {}

    try:
        pod = wait_for(restarted, timeout=240)
        assert pod, lab.ssh(N1, f"{KUBECTL} describe pods -l app=slow-web").stdout[-3000:]
        node = pod["spec"]["nodeName"]
        events = lab.ssh(N1, f"{KUBECTL} get events --field-selector "
                             f"involvedObject.name={pod['metadata']['name']},reason=Unhealthy "
                             "-o jsonpath='{.items[*].message}'", check=True).stdout
        assert "Liveness probe failed" in events and "Client.Timeout exceeded" in events, events
        timed("probe-timeout fault: real probe timeouts, container restarted", started)

        found = doctor(lab, node)
        named = {check: f for check, f in found.items() if f["step"] == "probe-timeout"}
        event = named.get("event:liveness-probe-timeout")
        assert event, f"doctor named no probe-timeout event on {node}: {sorted(found)}"
        assert event["command"] == (
            f"kubemedic recover probe-timeout -c {NAME} --limit {N1} -e "
            "kube_api_probe_namespace=default -e kube_api_probe_deployment=slow-web"), event
        assert {f["command"] for f in named.values()} == {event["command"]}, named

        step = time.monotonic()
        args = shlex.split(event["command"])
        repair = lab.kubemedic(*args[1:], "--json", timeout=900)
        timed("recover probe-timeout (patch, rollout)", step)
        assert repair.returncode == 0, repair.stdout[-3000:] + repair.stderr[-3000:]
        backup = (Path(summary(repair)["record"]) / "backups" / N1
                  / "deployment-default-slow-web.json")
        kept = json.loads(backup.read_text())["spec"]["template"]["spec"]["containers"][0]
        assert kept["livenessProbe"]["timeoutSeconds"] == 1, kept
        deployment = kubectl_json(lab, "deployment slow-web")
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["livenessProbe"]["timeoutSeconds"] == 5, container

        def settled() -> list[dict]:
            pods = kubectl_json(lab, "pods -l app=slow-web")["items"]
            return pods if len(pods) == 1 and pods[0]["status"].get("phase") == "Running" \
                and pods[0]["metadata"]["name"] != pod["metadata"]["name"] else []

        new = wait_for(settled, timeout=120)
        assert new, lab.ssh(N1, f"{KUBECTL} get pods -l app=slow-web -o wide").stdout
        time.sleep(15)   # five probe periods
        again = kubectl_json(lab, f"pod {new[0]['metadata']['name']}")
        assert again["status"]["containerStatuses"][0]["restartCount"] == 0, again["status"]
        page = lab.ssh(N1, f"{KUBECTL} exec {new[0]['metadata']['name']} -- /bin/busybox wget "
                           "-q -O - http://127.0.0.1:8080/cgi-bin/slow", timeout=60)
        assert page.stdout.strip() == "slow but fine", page

        after = doctor(lab, again["spec"]["nodeName"])
        left = {check: f["evidence"][:200] for check, f in after.items()
                if f["step"] == "probe-timeout"}
        assert not left, left
        if node != again["spec"]["nodeName"]:
            left = {check: f["evidence"][:200] for check, f in doctor(lab, node).items()
                    if f["step"] == "probe-timeout"}
            assert not left, left
        timed("drill probe-timeout: injection -> doctor clean", started)
        mttr.record("probe-timeout", node, ["2 s health page under a 1 s liveness timeout (real)"],
                    started)
    finally:
        lab.ssh(N1, f"{KUBECTL} delete deployment slow-web --ignore-not-found --wait=false",
                timeout=120)
    assert ready_nodes(lab) == [N1, N2, N3]


def device_plugin_archive(work: Path) -> Path:
    """docker-archive of PLUGIN_IMAGE: the static test double built by
    tests/doubles/build-fake-device-plugin (a cache hit once built) as the only file."""
    pack = _pack_module()
    build = Path(__file__).resolve().parents[1] / "doubles" / "build-fake-device-plugin"
    built = subprocess.run([str(build)], capture_output=True, text=True, check=False, timeout=1200)
    assert built.returncode == 0, built.stderr[-3000:]
    binary = Path(built.stdout.strip())
    tree = work / "tree"
    pack.write_tree(tree, {"fake-device-plugin": (binary, 0o755), "tmp": (None, 0o1777)})
    layer = work / "layer.tar"
    diff_id = pack.layer_from_dir(tree, layer)
    archive = work / "fake-device-plugin.tar"
    pack.write_archive(archive, {"plugin": (layer, diff_id)}, [{
        "ref": PLUGIN_IMAGE, "layers": ["plugin"],
        "run": {"Entrypoint": ["/fake-device-plugin"]},
        "labels": {"org.kubemedic.source": "tests/doubles/fake-device-plugin (TEST DOUBLE)"}}])
    return archive


def gpus(lab) -> tuple[str | None, str | None]:
    """The GPU node's (capacity, allocatable) of PLUGIN_RESOURCE as the API server has them."""
    status = kubectl_json(lab, f"node {GPU_NODE}")["status"]
    return ((status.get("capacity") or {}).get(PLUGIN_RESOURCE),
            (status.get("allocatable") or {}).get(PLUGIN_RESOURCE))


def plugin_pods(lab) -> list[dict]:
    pods = kubectl_json(lab, f"pods -n {PLUGIN_NAMESPACE} -l {PLUGIN_SELECTOR}")["items"]
    return [p for p in pods if p["status"].get("phase") == "Running"
            and not p["metadata"].get("deletionTimestamp")]


def test_device_plugin_restart_drill_on_a_real_kubelet(cluster) -> None:
    """Issue 14: recover device-plugin-restart drilled on the real kubelet 1.20. A device plugin
    TEST DOUBLE (tests/doubles/fake-device-plugin: the real device plugin API v1beta1, 2 fake
    nvidia.com/gpu) runs as a DaemonSet on the GPU worker and registers once, as old real plugins
    do. The fault is real: kubelet restarted on that node (what a driver change does) removes
    the plugin's socket and forgets its devices; the node then shows nvidia.com/gpu 0 while the
    plugin pod runs on. doctor's device-plugin-devices names `kubemedic recover
    device-plugin-restart`; that command, run as printed, deletes the plugin pod, the DaemonSet's
    new pod registers, the node has its 2 devices again, doctor is clean for it and the cluster's
    data is intact."""
    lab = cluster
    started = time.monotonic()
    lab.ssh(N1, f"{KUBECTL} create configmap drill-gpu-keep --from-literal=keep=precious "
                f"--dry-run=client -o yaml | {KUBECTL} apply -f -", check=True)
    push_test_image(lab, device_plugin_archive, PLUGIN_IMAGE)
    lab.ssh(N1, f"cat > /root/fake-device-plugin.yaml <<'EOF'\n{PLUGIN_DAEMONSET}EOF\n"
                f"{KUBECTL} apply -f /root/fake-device-plugin.yaml", check=True)
    try:
        registered = wait_for(lambda: gpus(lab) == (str(PLUGIN_DEVICES),) * 2, timeout=180)
        assert registered, (gpus(lab), lab.ssh(N1, f"{KUBECTL} -n {PLUGIN_NAMESPACE} describe "
                                                   f"pods -l {PLUGIN_SELECTOR}").stdout[-3000:])
        [plugin] = plugin_pods(lab)
        timed("device plugin double built, pushed, registered (2 nvidia.com/gpu)", started)

        step = injected = time.monotonic()
        lab.ssh(GPU_NODE, "systemctl restart kubelet", check=True)
        zero = wait_for(lambda: gpus(lab) == ("0", "0"), timeout=120, step=2)
        timed("kubelet restarted -> nvidia.com/gpu 0", step)
        assert zero, gpus(lab)
        # the plugin runs on, unregistered: its socket is gone, the pod is the same
        assert [p["metadata"]["uid"] for p in plugin_pods(lab)] == [plugin["metadata"]["uid"]]
        sockets = lab.ssh(GPU_NODE, "ls /var/lib/kubelet/device-plugins/", check=True).stdout
        assert "kubelet.sock" in sockets and "kubemedic-fake-gpu.sock" not in sockets, sockets
        assert wait_for(lambda: GPU_NODE in ready_nodes(lab), timeout=120), ready_nodes(lab)

        step = time.monotonic()
        found = doctor(lab, GPU_NODE)
        timed("doctor names device-plugin-restart", step)
        devices = found.get("device-plugin-devices")
        assert devices, f"doctor found no device-plugin-devices on {GPU_NODE}: {sorted(found)}"
        assert devices["evidence"] == f"{PLUGIN_RESOURCE}: capacity 0, allocatable 0", devices
        assert devices["severity"] == "critical" and devices["caused_by"] is None, devices
        assert devices["command"] == (
            f"kubemedic recover device-plugin-restart -c {NAME} --limit {GPU_NODE}"), devices
        # the only repair doctor names for the node
        named = {check: f["command"] for check, f in found.items()
                 if f["step"] and f["severity"] != "info"}
        assert named == {"device-plugin-devices": devices["command"]}, named

        step = time.monotonic()
        args = shlex.split(devices["command"])
        repair = lab.kubemedic(*args[1:], "--yes", "--json", timeout=900)
        timed("recover device-plugin-restart --yes", step)
        assert repair.returncode == 0, repair.stdout[-3000:] + repair.stderr[-3000:]
        back = wait_for(lambda: gpus(lab) == (str(PLUGIN_DEVICES),) * 2, timeout=180, step=2)
        timed("nvidia.com/gpu back to 2 after the repair", step)
        assert back, gpus(lab)
        [fresh] = plugin_pods(lab)
        assert fresh["metadata"]["uid"] != plugin["metadata"]["uid"], fresh["metadata"]

        after = doctor(lab, GPU_NODE)
        left = {check: f["evidence"][:200] for check, f in after.items()
                if check == "device-plugin-devices" or f["step"] == "device-plugin-restart"}
        assert not left, left
        timed("drill device-plugin-restart: injection -> doctor clean", started)
        mttr.record("device-plugin-restart", GPU_NODE, ["kubelet restarted under a plugin that "
                                                        "registers once"], injected)
        # user data intact: the ConfigMap, and the Deployment's pods still Running
        keep = lab.ssh(N1, f"{KUBECTL} get configmap drill-gpu-keep -o jsonpath='{{.data.keep}}'")
        assert keep.stdout == "precious", keep
        assert sleepers_running(lab) == 2
        assert ready_nodes(lab) == [N1, N2, N3]
    finally:
        lab.ssh(N1, f"{KUBECTL} -n {PLUGIN_NAMESPACE} delete daemonset "
                    "kubemedic-fake-device-plugin --ignore-not-found --wait=false", timeout=120)


# heal's drill policy: Xid 79 (fallen off the bus) -> cordon, drain, reboot, uncordon, with a
# drain wait short enough for a test (the default policy waits 20 min).
HEAL_POLICY = {"rules": [{"name": "xid-79-drill", "priority": 50, "error_codes": [79], "actions": [
    {"name": "cordon"}, {"name": "drain", "wait": 90},
    {"name": "reboot", "wait": "5m", "uncordon": True}]}]}
XID_79 = "NVRM: Xid (PCI:0000:3b:00): 79, pid=0, GPU has fallen off the bus."
BOOT_STAMP = "systemctl show -p UserspaceTimestampMonotonic --value"


def ready_sleepers(lab) -> int:
    """Ready sleeper pods not being deleted ([] counts 0 while the API does not answer)."""
    result = lab.ssh(N1, f"{KUBECTL} get pods -l app=sleeper -o json", timeout=60)
    if result.returncode != 0:
        return 0
    return sum(not p["metadata"].get("deletionTimestamp") and all(
        c.get("ready") for c in p["status"].get("containerStatuses") or [{"ready": False}])
        for p in json.loads(result.stdout)["items"])


def sleeper_nodes(lab) -> set[str]:
    return {p["spec"].get("nodeName") for p in kubectl_json(lab, "pods -l app=sleeper")["items"]
            if not p["metadata"].get("deletionTimestamp")}


def sleepers_only_on(lab, node: str, other: str) -> None:
    """Both sleeper pods on `node`: rolled out again with the `other` worker cordoned (the
    rollout awaited: pods already on `node` satisfy the check before the restart took effect)."""
    lab.ssh(N1, f"{KUBECTL} cordon {other} && {KUBECTL} rollout restart deployment sleeper && "
                f"{KUBECTL} rollout status deployment sleeper --timeout=240s", check=True,
            timeout=300)
    try:
        assert wait_for(lambda: ready_sleepers(lab) == 2 and sleeper_nodes(lab) == {node},
                        timeout=240), lab.ssh(N1, f"{KUBECTL} get pods -o wide").stdout
    finally:
        lab.ssh(N1, f"{KUBECTL} uncordon {other}", check=True)


def sleeper_budget(lab, min_available: int) -> None:
    """The sleeper Deployment's PodDisruptionBudget, made (again) with this minAvailable."""
    lab.ssh(N1, f"{KUBECTL} delete poddisruptionbudget sleeper --ignore-not-found && {KUBECTL} "
                "create poddisruptionbudget sleeper --selector=app=sleeper "
                f"--min-available={min_available}", check=True)


def counting_ready_sleepers(lab, action):
    """action()'s result, and the ready sleeper pods counted every second while it ran."""
    counts: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            counts.append(ready_sleepers(lab))
            stop.wait(1)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        result = action()
    finally:
        stop.set()
        thread.join(timeout=90)
    return result, counts


def heal(lab, policy: Path) -> subprocess.CompletedProcess:
    return lab.kubemedic("heal", "-c", NAME, "--policy", str(policy), "--yes", "--json",
                         timeout=1200)


def test_heal_drains_with_the_pod_disruption_budget_respected(cluster, tmp_path) -> None:
    """Issue 15 on the real API: heal's cordon, drain, reboot, uncordon of the GPU worker, whose
    kernel log (a file fed with a real Xid 79 line: no GPU here, and /dev/kmsg is the host's)
    says its GPU fell off the bus. The Deployment's 2 pods both run on that node under a
    PodDisruptionBudget.
    1. minAvailable 2: no pod may leave, so the drain cannot finish: heal stops after the drain's
       wait (90 s) with a message naming the budget; the node is uncordoned again (heal skips a
       cordoned node, so the same command could not run again otherwise), is not rebooted, and
       both pods keep running there.
    2. minAvailable 1: kubectl drain evicts through the Eviction API one pod at a time, so a
       watcher polling every second never sees fewer than 1 ready pod; the node is rebooted (the
       container stops; RebootStandIn starts it again), comes back Ready and is uncordoned."""
    lab = cluster
    policy = tmp_path / "xid-policy.yml"
    policy.write_text(yaml.safe_dump(HEAL_POLICY, sort_keys=False))
    lab.ssh(GPU_NODE, f"mkdir -p /var/log/kubemedic-test && echo '{XID_79}' > "
                      "/var/log/kubemedic-test/kern.log", check=True)
    sleepers_only_on(lab, GPU_NODE, other=N3)
    boot = lab.ssh(GPU_NODE, BOOT_STAMP, check=True).stdout.strip()
    watcher = RebootStandIn([GPU_NODE])
    try:
        sleeper_budget(lab, min_available=2)
        started = time.monotonic()
        blocked = heal(lab, policy)
        timed("heal with a budget that allows no eviction (drain wait 90 s)", started)
        output = blocked.stdout + blocked.stderr
        assert blocked.returncode == 3, output[-4000:]
        assert (f"The drain of {GPU_NODE} did not finish within 90 s: pods could not be evicted "
                "without violating their PodDisruptionBudget (default/sleeper allow no "
                "disruption now)") in output, output[-4000:]
        assert f"{GPU_NODE} was uncordoned again (as before this run)" in output, output[-4000:]
        node = kubectl_json(lab, f"node {GPU_NODE}")
        assert not node["spec"].get("unschedulable"), node["spec"]  # as before: heal can rerun
        assert lab.ssh(GPU_NODE, BOOT_STAMP, check=True).stdout.strip() == boot, "rebooted"
        assert ready_sleepers(lab) == 2 and sleeper_nodes(lab) == {GPU_NODE}

        sleeper_budget(lab, min_available=1)
        step = time.monotonic()
        healed, counts = counting_ready_sleepers(lab, lambda: heal(lab, policy))
        timed("heal: cordon, drain under minAvailable 1, reboot, uncordon", step)
        assert healed.returncode == 0, (healed.stdout + healed.stderr)[-4000:]
        assert len(counts) > 10 and min(counts) >= 1, counts
        assert watcher.restarts[GPU_NODE] == 1, watcher.restarts
        assert lab.ssh(GPU_NODE, BOOT_STAMP, check=True).stdout.strip() != boot
        assert wait_for(lambda: ready_nodes(lab) == [N1, N2, N3], timeout=300), ready_nodes(lab)
        node = kubectl_json(lab, f"node {GPU_NODE}")
        assert not node["spec"].get("unschedulable"), node["spec"]
        # the pods left the GPU worker for the other one and run there
        assert wait_for(lambda: ready_sleepers(lab) == 2, timeout=180)
        assert sleeper_nodes(lab) == {N3}
        decisions = {d["node"]: d for d in summary(healed)["extra"]["heal"]["decisions"]}
        assert GPU_NODE in decisions, decisions
    finally:
        watcher.stop()
        lab.ssh(N1, f"{KUBECTL} delete poddisruptionbudget sleeper --ignore-not-found; "
                    f"{KUBECTL} uncordon {GPU_NODE}", timeout=120)
        lab.ssh(GPU_NODE, "rm -f /var/log/kubemedic-test/kern.log", timeout=120)


# The kernel upgrade of a worker: the target is the kernel the node runs (the lab nodes share the
# dev-box's and cannot boot another), forced, so the whole cycle runs; a "reboot" is the node
# container stopping (RebootStandIn starts it again); the drain wait is short for a test.
KERNEL_UPGRADE_NODE = N3
KERNEL = host_kernel()
KERNEL_UPGRADE_VARS = {
    "kernel_upgrade_version": KERNEL, "kernel_upgrade_force": True,
    "kernel_upgrade_source": "offline",
    "kernel_upgrade_reboot_timeout": 300, "kernel_upgrade_reboot_command": "systemctl reboot",
    "kernel_upgrade_reboot_boot_time_command": BOOT_STAMP}
INSTALLED_KERNEL = ("dpkg-query -W -f='${db:Status-Status}' "
                    f"linux-image-{KERNEL} 2>/dev/null || true")


def bundle_with_kernel(lab, out: Path) -> Path:
    """The operator's bundle with the target kernel's packages added to its debs/ apt repository
    (`bundle create --deb`): the lab's bundle linked entry by entry, debs/ a copy plus the
    kernel packages (TEST DOUBLES: tests/integration/kernel_packages.py) and a new index."""
    group_vars = yaml.safe_load((lab.inventory / "group_vars" / "all.yml").read_text())
    bundle = Path(group_vars["cluster_bundle_dir"])
    out.mkdir()
    for entry in bundle.iterdir():
        if entry.name != "debs":
            (out / entry.name).symlink_to(entry)
    (out / "debs").mkdir()
    for deb in (bundle / "debs").glob("*.deb"):
        (out / "debs" / deb.name).symlink_to(deb)
    kernel_debs(KERNEL, out / "debs")
    write_apt_index(out / "debs")
    return out


def kernel_upgrade(lab, bundle: Path, drain_timeout: int) -> subprocess.CompletedProcess:
    return lab.kubemedic("kernel", "upgrade", "-c", NAME, "--limit", KERNEL_UPGRADE_NODE,
                         "--yes", "--json", "-e", f"cluster_bundle_dir={bundle}", "-e",
                         f"kernel_upgrade_drain_timeout={drain_timeout}", timeout=1200)


def test_kernel_upgrade_drains_with_the_pod_disruption_budget_respected(cluster, tmp_path) -> None:
    """Issue 15: `kubemedic kernel upgrade` of a worker against the real API (seed 000 #4's
    rollout: cordon, drain, install, reboot, verify, uncordon). The kernel packages are TEST
    DOUBLES (empty .debs named like Debian's, in the bundle's apt repository) and the reboot is
    the node container restarting: the nodes share the dev-box's kernel. The Deployment's 2 pods
    both run on the worker, under a PodDisruptionBudget.
    1. minAvailable 2: the drain cannot finish; the rollout stops after the drain's wait (60 s)
       naming the budget, before the kernel is installed: no package, no reboot, the node
       uncordoned again and both pods still running there.
    2. minAvailable 1 (drain wait 240 s): never fewer than 1 ready pod (polled every second);
       the kernel package is installed from the bundle's apt repository, the node rebooted,
       Ready and uncordoned, both pods running on the other worker."""
    lab = cluster
    node_vars = lab.inventory / "host_vars" / f"{KERNEL_UPGRADE_NODE}.yml"
    node_vars.parent.mkdir(exist_ok=True)
    assert not node_vars.exists()
    node_vars.write_text(yaml.safe_dump(KERNEL_UPGRADE_VARS))
    bundle = bundle_with_kernel(lab, tmp_path / "bundle")
    sleepers_only_on(lab, KERNEL_UPGRADE_NODE, other=N2)
    boot = lab.ssh(KERNEL_UPGRADE_NODE, BOOT_STAMP, check=True).stdout.strip()
    watcher = RebootStandIn([KERNEL_UPGRADE_NODE])
    try:
        sleeper_budget(lab, min_available=2)
        started = time.monotonic()
        blocked = kernel_upgrade(lab, bundle, drain_timeout=60)
        timed("kernel upgrade with a budget that allows no eviction (drain wait 60 s)", started)
        output = blocked.stdout + blocked.stderr
        assert blocked.returncode == 3, output[-4000:]
        assert (f"The drain of {KERNEL_UPGRADE_NODE} did not finish within 60 s: pods could not "
                "be evicted without violating their PodDisruptionBudget (default/sleeper allow "
                "no disruption now)") in output, output[-4000:]
        assert f"{KERNEL_UPGRADE_NODE} was uncordoned again (as before this run)" in output
        assert not kubectl_json(lab, f"node {KERNEL_UPGRADE_NODE}")["spec"].get("unschedulable")
        assert lab.ssh(KERNEL_UPGRADE_NODE, INSTALLED_KERNEL).stdout == ""  # stopped before
        assert lab.ssh(KERNEL_UPGRADE_NODE, BOOT_STAMP, check=True).stdout.strip() == boot
        assert watcher.restarts[KERNEL_UPGRADE_NODE] == 0
        assert ready_sleepers(lab) == 2 and sleeper_nodes(lab) == {KERNEL_UPGRADE_NODE}

        sleeper_budget(lab, min_available=1)
        started = time.monotonic()
        # evicting one pod at a time and waiting for each to end takes over a minute here
        upgraded, counts = counting_ready_sleepers(
            lab, lambda: kernel_upgrade(lab, bundle, drain_timeout=240))
        timed("kernel upgrade: cordon, drain under minAvailable 1, install, reboot, uncordon",
              started)
        assert upgraded.returncode == 0, (upgraded.stdout + upgraded.stderr)[-4000:]
        assert len(counts) > 10 and min(counts) >= 1, counts
        assert watcher.restarts[KERNEL_UPGRADE_NODE] == 1, watcher.restarts
        assert lab.ssh(KERNEL_UPGRADE_NODE, BOOT_STAMP, check=True).stdout.strip() != boot
        assert lab.ssh(KERNEL_UPGRADE_NODE, INSTALLED_KERNEL).stdout == "installed"
        names = helpers.task_names(summary(upgraded)["record"])
        order = [next(i for i, name in enumerate(names) if name.startswith(prefix)) for prefix in
                 ("Kube API | cordon", "Kube API | drain", "Kernel upgrade | install",
                  "Kernel upgrade | reboot", "Kernel upgrade | the node booted",
                  "Kube API | uncordon")]
        assert order == sorted(order), names
        assert wait_for(lambda: ready_nodes(lab) == [N1, N2, N3], timeout=300), ready_nodes(lab)
        assert not kubectl_json(lab, f"node {KERNEL_UPGRADE_NODE}")["spec"].get("unschedulable")
        assert wait_for(lambda: ready_sleepers(lab) == 2, timeout=180)
        assert sleeper_nodes(lab) == {N2}
    finally:
        watcher.stop()
        node_vars.unlink(missing_ok=True)
        lab.ssh(N1, f"{KUBECTL} delete poddisruptionbudget sleeper --ignore-not-found; "
                    f"{KUBECTL} uncordon {KERNEL_UPGRADE_NODE}", timeout=120)
        lab.ssh(KERNEL_UPGRADE_NODE, f"dpkg --purge linux-image-{KERNEL} linux-headers-{KERNEL}",
                timeout=120)


# Two failing workloads on a worker, both made with the module's busybox image: a container that
# exits 3 at once (CrashLoopBackOff: the application's own fault, no platform repair) and one
# whose tag is in no registry (ImagePullBackOff: air-gapped, so the repair is loading the bundle's
# images).
FAILING_NODE = N3
MISSING_IMAGE = f"{REGISTRY}/kubemedic-test/busybox:no-such-tag"
CRASH_RESTARTS = 3
FAILING_PODS = f"""apiVersion: v1
kind: Pod
metadata: {{name: crasher, namespace: default}}
spec:
  nodeName: {FAILING_NODE}
  terminationGracePeriodSeconds: 1
  containers:
    - name: app
      image: {NET_IMAGE}
      command: [/bin/busybox, sh, -c, "echo kubemedic crash drill; exit 3"]
---
apiVersion: v1
kind: Pod
metadata: {{name: wrong-image, namespace: default}}
spec:
  nodeName: {FAILING_NODE}
  terminationGracePeriodSeconds: 1
  containers:
    - name: app
      image: {MISSING_IMAGE}
"""


def waiting_reasons(lab) -> dict[str, str]:
    """pod name -> its container's waiting reason, for the two failing pods; the crasher's only
    once it restarted CRASH_RESTARTS times (kubelet's back-off is then 40 s: doctor reads it
    within that window, not in the moment the container runs again and exits)."""
    pods = kubectl_json(lab, "pods crasher wrong-image")["items"]
    reasons = {}
    for pod in pods:
        status = (pod["status"].get("containerStatuses") or [{}])[0]
        reason = (status.get("state", {}).get("waiting") or {}).get("reason", "")
        if pod["metadata"]["name"] == "crasher" and status.get("restartCount", 0) < CRASH_RESTARTS:
            reason = f"restarted {status.get('restartCount', 0)} times"
        reasons[pod["metadata"]["name"]] = reason
    return reasons


def pod_findings(lab) -> dict[str, dict]:
    """doctor's findings about the two failing pods on their node, by pod."""
    return {f["subject"]: f for f in doctor(lab, FAILING_NODE).values()
            if f["subject"] in ("default/crasher", "default/wrong-image")}


def test_doctor_reads_failing_pods_of_the_real_cluster(cluster) -> None:
    """Issue 13/15: doctor reads the real pods through kubectl on the first master: a container
    in CrashLoopBackOff (exit 3) is an application fault (a warning naming `kubectl logs
    --previous`, no repair command), an image in no registry is ImagePullBackOff with the
    air-gapped repair (`kubemedic images load ... --limit <node>`). Deleted, doctor says nothing
    about them."""
    lab = cluster
    lab.ssh(N1, f"{KUBECTL} apply -f - <<'EOF'\n{FAILING_PODS}EOF", check=True)
    try:
        assert wait_for(lambda: waiting_reasons(lab) == {"crasher": "CrashLoopBackOff",
                                                         "wrong-image": "ImagePullBackOff"},
                        timeout=300, step=2), waiting_reasons(lab)
        started = time.monotonic()
        found = pod_findings(lab)
        timed("doctor on a node with a crashing pod and a missing image", started)
        crash, pull = found.get("default/crasher"), found.get("default/wrong-image")
        assert crash and pull, found
        assert (crash["check"], crash["severity"], crash["step"], crash["command"]) == (
            "pod-restarts", "warning", None, None), crash
        assert "restarts in a loop (CrashLoopBackOff), last exit 3" in crash["message"], crash
        assert "kubectl -n default logs crasher -c app --previous" in crash["message"], crash
        assert (pull["check"], pull["severity"], pull["command"]) == (
            "pod-image-pull", "warning", f"kubemedic images load -c {NAME} --limit {FAILING_NODE}"
        ), pull
        assert MISSING_IMAGE in pull["evidence"], pull
    finally:
        lab.ssh(N1, f"{KUBECTL} delete pod crasher wrong-image --ignore-not-found --wait=true "
                    "--timeout=120s", timeout=180)
    assert pod_findings(lab) == {}


# Seed 000 #11's portal on the real cluster: its nginx Deployment on the master, host network,
# default.conf from a ConfigMap. `seed` is the seed's shape (an entry script starts nginx and
# keeps the container up, so the operator can go into the pod and see that nginx is not running);
# otherwise nginx is the container's process (a config error is then a crash loop).
PORTAL_CONFIGMAP = "portal-nginx"
PORTAL_READY = f"wget -q -O - http://127.0.0.1:{PORTAL_PORT}/ | grep -q '{PORTAL_PAGE}'"
PORTAL_URL = f"http://{N1_ADDRESS}:{PORTAL_PORT}/"
PORT_TAKER = "km-portal-port-taker"


def portal_deployment(seed: bool) -> str:
    command = ('[/bin/sh, -c, "nginx; exec sleep 2147483647"]' if seed
               else '[nginx, -g, "daemon off;"]')
    return f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: nginx, namespace: default}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: portal-nginx}}}}
  template:
    metadata: {{labels: {{app: portal-nginx}}}}
    spec:
      nodeName: {N1}
      hostNetwork: true
      terminationGracePeriodSeconds: 1
      containers:
        - name: nginx
          image: {PORTAL_IMAGE}
          command: {command}
          readinessProbe:
            exec: {{command: [/bin/sh, -c, "{PORTAL_READY}"]}}
            periodSeconds: 3
          volumeMounts: [{{name: conf, mountPath: /etc/nginx/conf.d}}]
      volumes: [{{name: conf, configMap: {{name: {PORTAL_CONFIGMAP}}}}}]
"""


def portal_config(lab, conf: str) -> None:
    """The portal's default.conf ConfigMap created or replaced with `conf`."""
    lab.ssh(N1, f"cat > /root/default.conf <<'EOF'\n{conf}EOF\n{KUBECTL} create configmap "
                f"{PORTAL_CONFIGMAP} --from-file=/root/default.conf --dry-run=client -o yaml | "
                f"{KUBECTL} apply -f - >/dev/null && rm /root/default.conf", check=True)


def portal_pods(lab) -> list[dict]:
    return [p for p in kubectl_json(lab, "pods -l app=portal-nginx")["items"]
            if not p["metadata"].get("deletionTimestamp")]


def portal_status(lab) -> dict:
    """The one portal pod's name, container state, ready and restarts ({} while not one)."""
    pods = portal_pods(lab)
    if len(pods) != 1:
        return {}
    status = (pods[0]["status"].get("containerStatuses") or [{}])[0]
    return {"name": pods[0]["metadata"]["name"], "state": next(iter(status.get("state") or {""})),
            "waiting": (status.get("state", {}).get("waiting") or {}).get("reason", ""),
            "ready": status.get("ready", False), "restarts": status.get("restartCount", 0)}


def portal_serves(lab, node: str) -> bool:
    answer = lab.ssh(node, f"python3 -c \"import urllib.request as u; print(u.urlopen("
                           f"'{PORTAL_URL}', timeout=5).read().decode())\"")
    return answer.returncode == 0 and PORTAL_PAGE in answer.stdout


def portal_restarted_at(lab) -> str | None:
    template = kubectl_json(lab, "deployment nginx")["spec"]["template"]["metadata"]
    return (template.get("annotations") or {}).get("kubectl.kubernetes.io/restartedAt")


def mounted_conf(lab, pod: str) -> str:
    return lab.ssh(N1, f"{KUBECTL} exec {pod} -c nginx -- cat /etc/nginx/conf.d/default.conf"
                   ).stdout


def portal_findings(lab, command: str) -> tuple[dict, dict]:
    """doctor's findings naming nginx-restart on node1: the root one (nginx's own log line in the
    pod's container log) and the pod's state (portal-nginx-pod) folded under it; both name
    `command` and no other nginx-restart finding is made."""
    named = {c: f for c, f in doctor(lab, N1).items() if f["step"] == "nginx-restart"}
    assert {f["command"] for f in named.values()} == {command}, named
    state = named.get("portal-nginx-pod")
    roots = [f for f in named.values() if f["caused_by"] is None]
    assert state and len(named) == 2 and len(roots) == 1, named
    assert state["caused_by"] == roots[0]["check"], named
    return roots[0], state


def test_nginx_restart_drill_on_the_portal_pod_of_the_real_cluster(cluster) -> None:
    """Seed 000 #11's pod case for real (real nginx 1.22 from Debian's package in a pod of the
    real cluster; the host-unit case is test_drills_seed000.py's). Two shapes of "the portal is
    down after the master rebooted":
    - nginx is the container's process and its config is broken: CrashLoopBackOff, nothing can
      be exec'd into; doctor names nginx-restart with the Deployment; the step reads nginx's last
      crash log, refuses ("NOT restarted", the file and line) and restarts nothing;
    - the seed's: an entry script starts nginx and keeps the pod Running; at start another
      service held the portal's port, so nginx exited and the pod stays unready although that
      service is gone (nothing restarts it). doctor names nginx-restart (the pod is unready for
      over a minute); with a typo put into default.conf the step's real `nginx -t` in the pod
      refuses and restarts nothing; with the config fixed it restarts the Deployment, the portal
      answers from another node, doctor is clean, the sleepers are untouched; run again, and
      with --check, the step changes nothing."""
    lab = cluster
    push_test_image(lab, nginx_archive, PORTAL_IMAGE)
    typo = PORTAL_DEFAULT_CONF.replace("listen", "lsten")
    command = (f"kubemedic recover nginx-restart -c {NAME} --limit {N1} "
               "-e nginx_pod_namespace=default -e nginx_pod_deployment=nginx")
    try:
        # shape 1: nginx as the container's process, its config broken
        portal_config(lab, typo)
        lab.ssh(N1, f"{KUBECTL} apply -f - <<'EOF'\n{portal_deployment(seed=False)}EOF",
                check=True)
        # in kubelet's 40 s back-off (after CRASH_RESTARTS), not in the moment it runs again
        assert wait_for(lambda: portal_status(lab).get("waiting") == "CrashLoopBackOff"
                        and portal_status(lab)["restarts"] >= CRASH_RESTARTS,
                        timeout=300, step=2), portal_status(lab)
        root, _state = portal_findings(lab, command)
        assert 'unknown directive "lsten"' in root["evidence"], root
        refused = lab.kubemedic(*shlex.split(command)[1:], "--yes", "--json", timeout=900)
        assert refused.returncode == 3, refused.stdout[-3000:] + refused.stderr[-2000:]
        assert "NOT restarted" in refused.stdout, refused.stdout[-3000:]
        # the step's message, as --json prints it (its quotes escaped)
        crash = json.dumps('unknown directive "lsten" in /etc/nginx/conf.d/default.conf:1')
        assert crash[1:-1] in refused.stdout, refused.stdout[-3000:]
        assert portal_restarted_at(lab) is None
        lab.ssh(N1, f"{KUBECTL} delete deployment nginx --wait=true --timeout=120s", check=True)

        # shape 2, the seed's: the port taken when the pod started, then free again
        portal_config(lab, PORTAL_DEFAULT_CONF)
        lab.ssh(N1, f"systemd-run --unit={PORT_TAKER} --collect python3 -m http.server "
                    f"{PORTAL_PORT}", check=True)
        assert wait_for(lambda: lab.ssh(N1, f"ss -Hltn 'sport = :{PORTAL_PORT}'").stdout.strip(),
                        timeout=30, step=1)
        started = mttr.start()
        lab.ssh(N1, f"{KUBECTL} apply -f - <<'EOF'\n{portal_deployment(seed=True)}EOF",
                check=True)
        assert wait_for(lambda: portal_status(lab).get("state") == "running", timeout=240,
                        step=2), portal_status(lab)
        running = time.monotonic()
        pod = portal_status(lab)["name"]
        # nginx tries to bind for about 2.5 s, then gives up (exit 1; the pod's shell stays)
        assert wait_for(lambda: "still could not bind()" in lab.ssh(
            N1, f"{KUBECTL} logs {pod} -c nginx").stdout, timeout=60, step=2)
        logs = lab.ssh(N1, f"{KUBECTL} logs {pod} -c nginx").stdout
        assert f"bind() to 0.0.0.0:{PORTAL_PORT} failed (98: Address already in use)" in logs, logs
        lab.ssh(N1, f"systemctl stop {PORT_TAKER}", check=True)
        timed("nginx-restart fault: the portal's nginx exited at start, its pod Running", started)
        # the typo, for the refusal: the step's nginx -t runs in the pod, on the mounted file
        portal_config(lab, typo)
        assert wait_for(lambda: "lsten" in mounted_conf(lab, pod), timeout=240, step=5)
        status = portal_status(lab)
        assert (status["name"], status["ready"], status["restarts"]) == (pod, False, 0), status
        # doctor reads an unready portal pod as down once it ran unready for NOT_READY_AFTER
        time.sleep(max(0.0, NOT_READY_AFTER + 5 - (time.monotonic() - running)))
        root, state = portal_findings(lab, command)
        assert f"bind() to 0.0.0.0:{PORTAL_PORT} failed" in root["evidence"], root
        assert "fails its readiness probe" in state["message"], state
        refused = lab.kubemedic(*shlex.split(command)[1:], "--yes", "--json", timeout=900)
        assert refused.returncode == 3, refused.stdout[-3000:] + refused.stderr[-2000:]
        assert "NOT restarted" in refused.stdout and "default.conf:1" in refused.stdout, \
            refused.stdout[-3000:]
        assert portal_restarted_at(lab) is None and portal_status(lab)["name"] == pod

        # the config fixed: still down (nothing restarts it), the step brings it back
        portal_config(lab, PORTAL_DEFAULT_CONF)
        assert wait_for(lambda: "lsten" not in mounted_conf(lab, pod), timeout=240, step=5)
        assert not portal_status(lab)["ready"] and not portal_serves(lab, N2)
        step = time.monotonic()
        portal_findings(lab, command)
        repair = lab.kubemedic(*shlex.split(command)[1:], "--yes", "--json", timeout=900)
        timed("recover nginx-restart (the portal's pod: nginx -t in it, rollout restart)", step)
        assert repair.returncode == 0, repair.stdout[-3000:] + repair.stderr[-3000:]
        restarted = portal_restarted_at(lab)
        assert restarted, kubectl_json(lab, "deployment nginx")["spec"]
        assert wait_for(lambda: portal_status(lab).get("ready"), timeout=120, step=2), \
            portal_status(lab)
        assert portal_status(lab)["name"] != pod
        assert portal_serves(lab, N2)
        # with the portal up the step changes nothing, nor does its dry run
        for extra in ("--yes", "--check"):
            again = lab.kubemedic(*shlex.split(command)[1:], extra, "--json", timeout=900)
            assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-2000:]
            assert sum(h["changed"] for h in summary(again)["hosts"].values()) == 0, extra
        assert portal_restarted_at(lab) == restarted, "a second restart"
        after = doctor(lab, N1)
        left = {c: f["evidence"] for c, f in after.items() if f["step"] == "nginx-restart"}
        assert not left, left
        timed("drill nginx-restart (portal pod): doctor -> repair -> doctor clean", step)
        mttr.record("nginx-restart", N1, ["the portal's nginx pod Running, nginx not up in it"],
                    None, seconds=time.monotonic() - step, check="portal-nginx-pod")
        assert sleepers_running(lab) == 2
    finally:
        lab.ssh(N1, f"systemctl stop {PORT_TAKER} 2>/dev/null; {KUBECTL} delete deployment "
                    f"nginx --ignore-not-found --wait=true --timeout=120s; {KUBECTL} delete "
                    f"configmap {PORTAL_CONFIGMAP} --ignore-not-found", timeout=300)


# Seed 000 #8's platform on the real cluster: the job manager's pods mount the job scripts
# ConfigMap, made from the scripts folder on the first master (the kube_api role's defaults).
KUBE_API_DEFAULTS = yaml.safe_load((REPO / "roles" / "kube_api" / "defaults" / "main.yml")
                                   .read_text())
JOB_SCRIPTS_DIR = KUBE_API_DEFAULTS["kube_api_job_scripts_dir"]
JOB_SCRIPTS_CONFIGMAP = KUBE_API_DEFAULTS["kube_api_job_scripts_configmap"]
JOB_SCRIPTS = {"npu_log_collect.sh": "#!/bin/sh\ncp /var/log/npu/slog/*.log \"$JOB_LOG_DIR\"/\n",
               "job_env.sh": "export JOB_LOG_DIR=/job/logs\n"}
JOB_MANAGER = f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: jobmanager, namespace: default}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: jobmanager}}}}
  template:
    metadata: {{labels: {{app: jobmanager}}}}
    spec:
      nodeName: {N3}
      terminationGracePeriodSeconds: 1
      containers:
        - name: jobmanager
          image: {NET_IMAGE}
          command: [/bin/busybox, sleep, "3600"]
          volumeMounts: [{{name: scripts, mountPath: /job/scripts}}]
      volumes: [{{name: scripts, configMap: {{name: {JOB_SCRIPTS_CONFIGMAP}}}}}]
"""


def job_manager_pods(lab) -> list[dict]:
    return [p for p in kubectl_json(lab, "pods -l app=jobmanager")["items"]
            if not p["metadata"].get("deletionTimestamp")]


def job_manager_running(lab) -> bool:
    pods = job_manager_pods(lab)
    return len(pods) == 1 and pods[0]["status"].get("phase") == "Running"


def test_npu_log_configmap_drill_on_the_real_cluster(cluster) -> None:
    """Seed 000 #8 for real: the job scripts ConfigMap deleted (the seed's `kubectl delete -f
    dlws-scripts.yaml` without the create) and the job manager restarted: its new pod waits in
    ContainerCreating on the real kubelet's FailedMount (`configmap "dlws-scripts" not found`).
    doctor reads that real event and names `recover npu-log-configmap --limit <first master>`;
    the command, run as printed, renders the manifest from the scripts on node1 and creates the
    ConfigMap again with every script; the pod starts and sees them; doctor is clean for it; a
    ConfigMap made before the drill is intact."""
    lab = cluster
    files = "".join(f"cat > {JOB_SCRIPTS_DIR}/{name} <<'EOF'\n{text}EOF\n"
                    for name, text in JOB_SCRIPTS.items())
    lab.ssh(N1, f"mkdir -p {JOB_SCRIPTS_DIR}\n{files}"
                f"{KUBECTL} create configmap {JOB_SCRIPTS_CONFIGMAP} --from-file={JOB_SCRIPTS_DIR}"
                f" && {KUBECTL} create configmap npu-drill-keep --from-literal=keep=precious && "
                f"{KUBECTL} apply -f - <<'EOF'\n{JOB_MANAGER}EOF", check=True)
    try:
        assert wait_for(lambda: job_manager_running(lab), timeout=240), job_manager_pods(lab)
        started = mttr.start()
        lab.ssh(N1, f"{KUBECTL} delete configmap {JOB_SCRIPTS_CONFIGMAP} && {KUBECTL} rollout "
                    "restart deployment jobmanager", check=True)

        def failed_mount() -> str:
            return lab.ssh(N1, f"{KUBECTL} get events --field-selector reason=FailedMount "
                               "-o jsonpath='{.items[*].message}'").stdout

        assert wait_for(lambda: f'configmap "{JOB_SCRIPTS_CONFIGMAP}" not found'
                        in failed_mount(), timeout=240), failed_mount()
        assert not job_manager_running(lab)
        timed("npu-log-configmap fault: ConfigMap deleted, the new pod waits on its volume",
              started)

        found = doctor(lab, N3)
        named = found.get("npu-log-configmap")
        assert named, f"doctor named no npu-log-configmap on {N3}: {sorted(found)}"
        assert (named["severity"], named["command"]) == (
            "critical", f"kubemedic recover npu-log-configmap -c {NAME} --limit {N1}"), named
        assert named["subject"].startswith("default/jobmanager-"), named

        step = time.monotonic()
        repair = lab.kubemedic(*shlex.split(named["command"])[1:], "--json", timeout=900)
        timed("recover npu-log-configmap (manifest rendered, ConfigMap created)", step)
        assert repair.returncode == 0, repair.stdout[-3000:] + repair.stderr[-3000:]
        assert kubectl_json(lab, f"configmap {JOB_SCRIPTS_CONFIGMAP}")["data"] == JOB_SCRIPTS
        manifest = lab.ssh(N1, f"cat {KUBE_API_DEFAULTS['kube_api_job_scripts_manifest']}",
                           check=True).stdout
        assert "kind: ConfigMap" in manifest and "npu_log_collect.sh" in manifest, manifest
        # kubelet retries the mount with a back-off (up to ~2 min between tries)
        assert wait_for(lambda: job_manager_running(lab), timeout=300), job_manager_pods(lab)
        pod = job_manager_pods(lab)[0]["metadata"]["name"]
        seen = lab.ssh(N1, f"{KUBECTL} exec {pod} -- /bin/busybox cat /job/scripts/job_env.sh",
                       check=True).stdout
        assert seen == JOB_SCRIPTS["job_env.sh"], seen
        after = doctor(lab, N3)
        assert "npu-log-configmap" not in after, after["npu-log-configmap"]
        timed("drill npu-log-configmap: doctor -> repair -> doctor clean", started)
        mttr.record("npu-log-configmap", N1, ["job scripts ConfigMap deleted (real FailedMount)"],
                    started)
        assert kubectl_json(lab, "configmap npu-drill-keep")["data"] == {"keep": "precious"}
        assert sleepers_running(lab) == 2
    finally:
        lab.ssh(N1, f"{KUBECTL} delete deployment jobmanager --ignore-not-found; {KUBECTL} "
                    f"delete configmap {JOB_SCRIPTS_CONFIGMAP} npu-drill-keep --ignore-not-found",
                timeout=180)


# Seed 000 #12's job services on the real cluster: restfulapi and the job manager run the job
# image, which the platform preloads on every node (imagePullPolicy Never: a node that lost the
# image cannot start them).
JOB_IMAGE = f"{REGISTRY}/kubemedic-test/job:1"
JOB_SERVICES = {"restfulapi": N2, "jobmanager": N3}


def job_service(name: str, node: str) -> str:
    return f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: default}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      nodeName: {node}
      terminationGracePeriodSeconds: 1
      containers:
        - name: {name}
          image: {JOB_IMAGE}
          imagePullPolicy: Never
          command: [/bin/busybox, sleep, "3600"]
"""


def rolled_out(lab, name: str) -> bool:
    return lab.ssh(N1, f"{KUBECTL} rollout status deployment {name} --timeout=5s",
                   timeout=60).returncode == 0


def changed_hosts(record: str, task_prefix: str) -> set[str]:
    """Hosts on which a task whose name starts with task_prefix reported a change."""
    hosts = set()
    for path in Path(record).glob("artifacts/*/job_events/*.json"):
        # a `verbose` event (a line Ansible printed outside a task: a warning) has no event_data
        data = json.loads(path.read_text()).get("event_data") or {}
        if data.get("task", "").startswith(task_prefix) and (data.get("res") or {}).get("changed"):
            hosts.add(data["host"])
    return hosts


def test_job_path_drill_on_the_real_cluster(cluster) -> None:
    """Seed 000 #12 for real: jobs fail because node3 lost the job image (`docker rmi`) and the
    job manager, restarted, cannot start there (the real kubelet's ErrImageNeverPull). doctor
    names `recover job-path -e container_runtime_job_images=<image>` (the whole cluster: no
    --limit) from the pod's image. An image the registry does not hold is refused on every node
    and nothing is restarted; the printed command pulls the image from the private registry
    where it is missing (node3 only), restarts both job services and awaits their rollouts;
    doctor is clean for them, the sleeper pods untouched."""
    lab = cluster
    manifests = "---\n".join(job_service(name, node) for name, node in JOB_SERVICES.items())
    lab.ssh(N1, f"docker tag {NET_IMAGE} {JOB_IMAGE} && docker push -q {JOB_IMAGE} >/dev/null",
            check=True)
    for node in (N2, N3):
        lab.ssh(node, f"docker pull -q {JOB_IMAGE} >/dev/null", check=True)
    lab.ssh(N1, f"{KUBECTL} apply -f - <<'EOF'\n{manifests}EOF", check=True)
    try:
        assert wait_for(lambda: all(rolled_out(lab, n) for n in JOB_SERVICES), timeout=240)
        started = mttr.start()
        lab.ssh(N3, f"docker rmi -f {JOB_IMAGE} >/dev/null", check=True)
        lab.ssh(N1, f"{KUBECTL} rollout restart deployment jobmanager", check=True)

        def never_pulled() -> bool:
            pods = kubectl_json(lab, "pods -l app=jobmanager")["items"]
            return any(((s.get("state") or {}).get("waiting") or {}).get("reason")
                       == "ErrImageNeverPull" for p in pods
                       for s in p["status"].get("containerStatuses") or [])

        assert wait_for(never_pulled, timeout=180), lab.ssh(
            N1, f"{KUBECTL} describe pods -l app=jobmanager").stdout[-3000:]
        timed("job-path fault: job image gone from node3, the job manager cannot start", started)

        found = doctor(lab, N3)
        named = found.get("job-services")
        assert named, f"doctor named no job-services on {N3}: {sorted(found)}"
        assert (named["severity"], named["step"], named["command"]) == (
            "critical", "job-path",
            f"kubemedic recover job-path -c {NAME} -e container_runtime_job_images={JOB_IMAGE}"
        ), named
        generations = {n: kubectl_json(lab, f"deployment {n}")["metadata"]["generation"]
                       for n in JOB_SERVICES}
        absent = lab.kubemedic("recover", "job-path", "-c", NAME, "--yes", "-e",
                               f"container_runtime_job_images={REGISTRY}/kubemedic-test/absent:1",
                               timeout=900)
        assert absent.returncode == 3, absent.stdout[-3000:] + absent.stderr[-2000:]
        assert "cannot pull" in absent.stdout + absent.stderr
        assert {n: kubectl_json(lab, f"deployment {n}")["metadata"]["generation"]
                for n in JOB_SERVICES} == generations, "job services restarted after a failed pull"

        step = time.monotonic()
        repair = lab.kubemedic(*shlex.split(named["command"])[1:], "--yes", "--json",
                               timeout=900)
        timed("recover job-path (pull where missing, restart, rollouts)", step)
        assert repair.returncode == 0, repair.stdout[-3000:] + repair.stderr[-3000:]
        pulled = changed_hosts(summary(repair)["record"], "Job path | pull each job image")
        assert pulled == {N3}, pulled  # pulled where it was gone only
        assert lab.ssh(N3, f"docker image inspect {JOB_IMAGE} >/dev/null").returncode == 0
        for name in JOB_SERVICES:
            deployment = kubectl_json(lab, f"deployment {name}")
            assert deployment["metadata"]["generation"] > generations[name], name  # restarted
            assert rolled_out(lab, name), name
        after = doctor(lab, N3)
        assert "job-services" not in after, after["job-services"]
        timed("drill job-path: doctor -> repair -> doctor clean", started)
        mttr.record("job-path", N3, ["job image gone from the node (real ErrImageNeverPull)"],
                    started)
        assert sleepers_running(lab) == 2
    finally:
        lab.ssh(N1, f"{KUBECTL} delete deployment {' '.join(JOB_SERVICES)} --ignore-not-found",
                timeout=180)
