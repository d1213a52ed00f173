"""Helpers shared by the real-cluster test modules (a lab from `lab up --kubernetes`): kubectl
on the first master, waiting, the CLI's JSON summary and the tasks a run record shows, doctor
and its printed commands, the private registry, the reset --reinit checks, node remove then
add, and the master-ip-change drill's fault and checks.

Each function takes the lab (tests/conftest.py's Lab) and the first master's node name (or the
lab's customer name), so a module with its own lab name uses them unchanged; the checks shared by
the docker and containerd modules' reset tests return lists of problems.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import shlex
import subprocess
import tarfile
import time
from pathlib import Path

import yaml

from kubemedic import paths

KUBECTL = "kubectl --kubeconfig /etc/kubernetes/admin.conf"
# A Deployment of the pause image pulled from the private registry on every start (Always: the
# workers really pull it from node1's registry, not only use what the bundle loaded); format
# with registry=<the lab's registry>.
SLEEPER_DEPLOYMENT = """apiVersion: apps/v1
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
          image: {registry}/pause:3.2
          imagePullPolicy: Always
"""


def timed(timings: dict[str, float], what: str, started: float) -> None:
    timings[what] = round(time.monotonic() - started, 1)
    print(f"[timing] {what}: {timings[what]} s", flush=True)


def summary(result) -> dict:
    """The CLI's --json answer (fails with its stderr when it printed none)."""
    assert result.stdout.strip(), result.stderr[-3000:]
    return json.loads(result.stdout)


def wait_for(predicate, timeout: float = 240, step: float = 3):
    """predicate() until it is truthy or TIMEOUT seconds passed; its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


def kubectl_json(lab, master: str, what: str) -> dict:
    return json.loads(lab.ssh(master, f"{KUBECTL} get {what} -o json", check=True).stdout)


def ready_nodes(lab, master: str) -> list[str]:
    """Names of the nodes whose Ready condition is True ([] while the API does not answer)."""
    result = lab.ssh(master, f"{KUBECTL} get nodes -o json")
    if result.returncode != 0:
        return []
    return sorted(n["metadata"]["name"] for n in json.loads(result.stdout)["items"]
                  if any(c["type"] == "Ready" and c["status"] == "True"
                         for c in n["status"]["conditions"]))


def registry(lab) -> str:
    """The private registry as the lab inventory names it (node1's address:5000)."""
    data = yaml.safe_load((lab.inventory / "group_vars" / "all.yml").read_text())
    return data["cluster_registry"]


def task_names(record: str, event: str = "runner_on_ok") -> list[str]:
    """Names of the tasks with EVENT (runner_on_ok: ran, ok or changed) in a run record, in order."""
    found = []
    for path in Path(record).glob("artifacts/*/job_events/*.json"):
        data = json.loads(path.read_text())
        if data.get("event") == event:
            found.append((data["counter"], data["event_data"].get("task", "")))
    return [name for _, name in sorted(found)]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def node_sha256(lab, node: str, path: str) -> str:
    """sha256 of a file on a node."""
    return lab.ssh(node, f"sha256sum {path}", check=True).stdout.split()[0]


# A node's boot, as systemd saw it start: changes when the node container really rebooted.
BOOT_STAMP = "systemctl show -p UserspaceTimestampMonotonic --value"


def node_names(lab, master: str) -> list[str]:
    """Names of the cluster's nodes ([] while the API does not answer)."""
    result = lab.ssh(master, f"{KUBECTL} get nodes -o name")
    return sorted(n.removeprefix("node/") for n in result.stdout.split()) \
        if result.returncode == 0 else []


def deploy_sleepers(lab, master: str) -> None:
    """SLEEPER_DEPLOYMENT applied (from the lab's registry)."""
    manifest = SLEEPER_DEPLOYMENT.format(registry=registry(lab))
    lab.ssh(master, f"cat > /root/sleeper.yaml <<'EOF'\n{manifest}EOF\n{KUBECTL} apply -f "
                    "/root/sleeper.yaml", check=True)


def running_sleepers(lab, master: str) -> list[dict]:
    """The sleeper Deployment's pods that are Running with every container ready."""
    result = lab.ssh(master, f"{KUBECTL} get pods -l app=sleeper -o json")
    if result.returncode != 0:
        return []
    return [p for p in json.loads(result.stdout)["items"]
            if p["status"].get("phase") == "Running" and all(
                c.get("ready") for c in p["status"].get("containerStatuses") or [{}])]


def first(names: list[str], part: str) -> int:
    """Index of the first name containing PART."""
    return next(i for i, name in enumerate(names) if part in name)


def doctor(lab, customer: str, limit: str | None = None) -> dict[str, dict[str, dict]]:
    """`kubemedic doctor` (--limit); findings by host, then by check (printed)."""
    result = lab.kubemedic("doctor", "-c", customer, "--json",
                           *(["--limit", limit] if limit else []), timeout=900)
    assert result.returncode in (0, 5), result.stdout[-3000:] + result.stderr[-3000:]
    found: dict[str, dict[str, dict]] = {}
    for f in json.loads(result.stdout)["findings"]:
        found.setdefault(f["host"], {})[f["check"]] = f
    for host, checks in sorted(found.items()):
        print(f"[doctor {host}] " + "; ".join(
            f"{c} {f['severity']}{' -> ' + f['step'] if f['step'] else ''}"
            f"{' (under ' + f['caused_by'] + ')' if f['caused_by'] else ''}"
            for c, f in checks.items()), flush=True)
    return found


def run_printed(lab, command: str, *extra: str, timeout: float = 1800):
    """Run a command doctor printed, as printed (plus EXTRA and --json)."""
    args = shlex.split(command)
    assert args[0] == "kubemedic", command
    return lab.kubemedic(*args[1:], *extra, "--json", timeout=timeout)


def registry_manifest(lab, master: str, name: str, tag: str, method: str = "HEAD"):
    """The registry's answer for NAME:TAG, asked on MASTER (curl is not on the nodes: python)."""
    script = ("import sys, urllib.request as u\n"
              f"r = u.Request('http://{registry(lab)}/v2/{name}/manifests/{tag}', method='{method}',"
              " headers={'Accept': 'application/vnd.docker.distribution.manifest.v2+json'})\n"
              "try:\n"
              "    with u.urlopen(r, timeout=10) as a: print(a.status, a.headers.get("
              "'Docker-Content-Digest'))\n"
              "except u.HTTPError as e: print(e.code, '')\n")
    return lab.ssh(master, f"python3 - <<'EOF'\n{script}EOF", check=True)


def drop_from_registry(lab, master: str, name: str, tag: str) -> None:
    """NAME:TAG's manifest deleted from the private registry (it answers 404 after)."""
    head = registry_manifest(lab, master, name, tag).stdout.split()
    assert head[0] == "200", head
    deleted = registry_manifest(lab, master, name, head[1], method="DELETE").stdout.split()
    assert deleted[0] == "202", deleted
    assert registry_manifest(lab, master, name, tag).stdout.split()[0] == "404"


def kube_system_images(lab, master: str) -> list[str]:
    pods = kubectl_json(lab, master, "pods -n kube-system")["items"]
    return sorted(c["image"] for p in pods for c in p["spec"]["containers"])


def control_plane_images(lab, version: str) -> list[str]:
    """The images the control plane runs from: the private registry's names."""
    return sorted(f"{registry(lab)}/{i}" for i in (
        "etcd:3.4.13-0", f"kube-apiserver:{version}", f"kube-controller-manager:{version}",
        f"kube-scheduler:{version}"))


def refused_reinit_problems(result, ref: str, master: str) -> list[str]:
    """What is wrong with a `reset --reinit` that should have stopped (exit 3) before anything
    was reset because REF is missing: the message, the host, no backup/reset task run."""
    answer = summary(result)
    failures = json.dumps(answer["failures"])
    problems = []
    if result.returncode != 3:
        problems.append(f"exit {result.returncode}")
    if ref not in failures or "nothing was reset" not in failures:
        problems.append(f"failures: {failures[-2000:]}")
    if {f.get("host") for f in answer["failures"]} != {master}:
        problems.append(f"failed hosts: {answer['failures']}")
    ran = [t for t in task_names(answer["record"])
           if t.startswith(("Kubernetes node |", "Kube reset | archive", "Etcd_snapshot"))]
    if ran:
        problems.append(f"ran: {ran}")
    if (Path(answer["record"]) / "backups").exists():
        problems.append("backups written")
    return problems


def reinit_order_problems(record: Path) -> list[str]:
    """The re-init's tasks in order: image check, backups, etcd snapshot, reset, init, join."""
    names = task_names(str(record))
    order = [first(names, "Kubernetes control plane | no image missing"),
             first(names, "Kubernetes node | fetch the archive to the dev-box"),
             first(names, "Etcd_snapshot | fetch to the dev-box"),
             first(names, "Kubernetes node | kubeadm reset -f"),
             first(names, "Kubernetes control plane | kubeadm init"),
             first(names, "Kubernetes join | kubeadm join")]
    return [] if order == sorted(order) else [f"order {order}: {names}"]


def reinit_backup_problems(record: Path, nodes: list[str], master: str, old_ca: str,
                           keys: list[bytes]) -> list[str]:
    """The re-init's backups in the run record: each node's /etc/kubernetes (the master's with
    the old CA), and one etcd snapshot holding KEYS (bbolt keeps keys as plain bytes) with its
    sha256 file."""
    problems: list[str] = []
    for node in nodes:
        with tarfile.open(record / "backups" / node / "kubernetes.tgz") as archive:
            if "etc/kubernetes/kubelet.conf" not in archive.getnames():
                problems.append(f"{node}: no kubelet.conf in the backup")
            if node == master:
                kept = archive.extractfile("etc/kubernetes/pki/ca.crt")
                if kept is None or sha256(kept.read()) != old_ca:
                    problems.append("the backup's ca.crt is not the old cluster's")
    snapshots = list((record / "backups" / "etcd").glob("*.db"))
    if len(snapshots) != 1 or not Path(f"{snapshots[0]}.sha256").is_file():
        return [*problems, f"etcd snapshots: {snapshots}"]
    data = snapshots[0].read_bytes()
    problems += [f"the etcd snapshot lacks {key!r}" for key in keys if key not in data]
    if sha256(data) != Path(f"{snapshots[0]}.sha256").read_text().split()[0]:
        problems.append("the etcd snapshot's sha256 does not match")
    return problems


def backup_holds(record: Path, node: str, ca: str) -> list[str]:
    """What is missing from NODE's /etc/kubernetes backup: kubelet.conf, the CA CA."""
    with tarfile.open(record / "backups" / node / "kubernetes.tgz") as archive:
        kept = archive.extractfile("etc/kubernetes/pki/ca.crt")
        problems = [] if kept is not None and sha256(kept.read()) == ca else [
            f"{node}: the backup's ca.crt is not {ca}"]
        if "etc/kubernetes/kubelet.conf" not in archive.getnames():
            problems.append(f"{node}: no kubelet.conf in the backup")
    return problems


def stale_ca_finding(lab, customer: str, node: str) -> dict:
    """doctor --limit NODE on a node that holds an older cluster's kubeadm state: its
    kubeadm-cluster-ca finding, a critical root cause with node-registered folded under it."""
    found = doctor(lab, customer, node).get(node, {})
    stale = found.get("kubeadm-cluster-ca")
    assert stale, f"doctor found no kubeadm-cluster-ca on {node}: {sorted(found)}"
    assert stale["severity"] == "critical" and stale["caused_by"] is None, stale
    registered = found.get("node-registered")
    assert registered and registered["caused_by"] == "kubeadm-cluster-ca", found
    return stale


def pod_route_problems(lab, master: str, node: str, others: list[str]) -> list[str]:
    """The pod network reaches NODE: each of OTHERS routes NODE's pod CIDR through its address."""
    cidr = next(n["spec"]["podCIDR"] for n in kubectl_json(lab, master, "nodes")["items"]
                if n["metadata"]["name"] == node)
    routes = {other: lab.ssh(other, f"ip route show {cidr}", check=True).stdout
              for other in others}
    return [f"{other}: {cidr} {route!r}" for other, route in routes.items()
            if f"via {lab.nodes[node]}" not in route]


def cluster_state(lab, master: str, worker: str) -> dict:
    """What a refused reset leaves as it was: the Ready nodes, the master's admin.conf, WORKER's
    kubelet.conf and the running sleeper pods."""
    return {"ready": ready_nodes(lab, master),
            "admin": node_sha256(lab, master, "/etc/kubernetes/admin.conf"),
            "kubelet": node_sha256(lab, worker, "/etc/kubernetes/kubelet.conf"),
            "pods": sorted(p["metadata"]["uid"] for p in running_sleepers(lab, master))}


def repaired(lab, command: str, timings: dict[str, float], what: str, *extra: str,
             timeout: float = 1800) -> Path:
    """Run a command doctor printed (run_printed, plus EXTRA), timed as WHAT; it must succeed.
    Its run record."""
    started = time.monotonic()
    result = run_printed(lab, command, *extra, timeout=timeout)
    timed(timings, what, started)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-3000:]
    return Path(summary(result)["record"])


# --- node remove then add, and the master-ip-change drill (both runtimes' modules) ---


def sleepers_onto(lab, master: str, node: str, cordoned: str) -> None:
    """The Deployment's pods moved onto NODE, rolled out with CORDONED cordoned (the scheduler's
    spreading is only a preference: a rollout put both pods on one node in one run, one on each
    in another); CORDONED is uncordoned after."""
    lab.ssh(master, f"{KUBECTL} cordon {cordoned} && {KUBECTL} rollout restart deployment "
                    "sleeper", check=True)
    try:
        assert wait_for(lambda: len(running_sleepers(lab, master)) == 2 and {
            p["spec"]["nodeName"] for p in running_sleepers(lab, master)} == {node},
            timeout=300), lab.ssh(master, f"{KUBECTL} get pods -o wide").stdout
    finally:
        lab.ssh(master, f"{KUBECTL} uncordon {cordoned}", check=True)


def leftovers(lab, node: str) -> dict[str, list[str]]:
    """What kubeadm reset leaves on a node unless cleaned: mounts under /var/lib/kubelet, the CNI
    config, iptables chains of kubelet (KUBE-) and the CNI plugins (CNI-), the cni0 bridge (it
    keeps the old pod CIDR's gateway address), kubemedic's routes to the other nodes' pod CIDRs
    (route protocol 187, kubemedic_pod_route_protocol). The runtime's own state is each
    module's to check."""
    def lines(command: str) -> list[str]:
        return lab.ssh(node, command, check=True).stdout.split()
    rules = "iptables-save -t nat; iptables-save -t filter"
    return {"mounts": lines("findmnt -rn -o TARGET | grep '^/var/lib/kubelet/' || true"),
            "cni": lines("ls -A /etc/cni/net.d 2>/dev/null || true"),
            "kube_rules": lines(f"{{ {rules}; }} | grep -oE '^:(KUBE|CNI)-[^ ]+' || true"),
            "bridge": lines("ip -o link show cni0 2>/dev/null | cut -d: -f2 || true"),
            "pod_routes": lines("ip route show proto 187 | cut -d' ' -f1")}


def leftover_problems(found: dict[str, list[str]], present: bool) -> list[str]:
    """LEFTOVERS' kinds that are not all there (PRESENT) or not all gone."""
    return [f"{kind}: {items}" for kind, items in found.items() if bool(items) != present]


def node_remove_problems(lab, customer: str, master: str, node: str, timings: dict[str, float],
                         ) -> list[str]:
    """`kubemedic node remove NODE --yes`, timed: it must succeed; NODE gone from the cluster,
    its kubelet.conf gone, its backup in the run record (kubelet.conf, the CNI config), kubeadm
    reset's leftovers gone. What is wrong."""
    started = time.monotonic()
    removed = lab.kubemedic("node", "remove", node, "--yes", "-c", customer, "--json",
                            timeout=1800)
    timed(timings, f"node remove {node}", started)
    assert removed.returncode == 0, removed.stdout[-4000:] + removed.stderr[-3000:]
    problems = []
    names = node_names(lab, master)
    if node in names or not names:
        problems.append(f"nodes after the remove: {names}")
    if lab.ssh(node, "test -e /etc/kubernetes/kubelet.conf").returncode == 0:
        problems.append(f"{node}: /etc/kubernetes/kubelet.conf still there")
    backup = Path(summary(removed)["record"]) / "backups" / node / "kubernetes.tgz"
    with tarfile.open(backup) as archive:
        kept = archive.getnames()
    problems += [f"the backup lacks {f}" for f in (
        "etc/kubernetes/kubelet.conf", "etc/cni/net.d/10-kubemedic-bridge.conflist")
        if f not in kept]
    return problems + leftover_problems(leftovers(lab, node), present=False)


def node_add(lab, customer: str, master: str, node: str, nodes: list[str],
             timings: dict[str, float]) -> None:
    """`kubemedic node add NODE`, timed: it must succeed, skip the inventory's skipped roles
    (the air-gapped lab has no packages for `common`), and NODES be Ready after."""
    started = time.monotonic()
    added = lab.kubemedic("node", "add", node, "-c", customer, "--json", timeout=1800)
    timed(timings, f"node add {node}", started)
    assert added.returncode == 0, added.stdout[-4000:] + added.stderr[-3000:]
    assert "skipping common" in added.stderr, added.stderr[-2000:]
    assert wait_for(lambda: ready_nodes(lab, master) == nodes, timeout=600), \
        ready_nodes(lab, master)


def readdress(lab, name: str, node: str, new_ip: str) -> None:
    """NODE's address on lab NAME's cluster network changed (podman network disconnect +
    connect --ip: a new interface, as after a changed netplan), the air gap kept (podman adds a
    default route), the lab's ssh config pointed at the new address."""
    network = f"{name}-cluster"
    subprocess.run(["podman", "network", "disconnect", network, node], check=True, timeout=120)
    subprocess.run(["podman", "network", "connect", "--ip", new_ip, network, node], check=True,
                   timeout=120)
    old_ip = lab.nodes[node]
    config = lab.ssh_config.read_text()
    lab.ssh_config.write_text(re.sub(rf"\b{re.escape(old_ip)}\b", new_ip, config))
    lab.nodes[node] = new_ip
    lab.ssh(node, "ip route del default 2>/dev/null; ip route show default", check=True)


def rewrite_yaml(path: Path, change) -> None:
    """PATH's YAML changed by CHANGE(data), its leading comment kept: `lab down` removes a
    lab's inventory only when hosts.yml still says it was written by `lab up` (a plain
    yaml.safe_dump dropped that line, and lab down then left the whole inventory behind)."""
    text = path.read_text()
    header = "".join(line for line in text.splitlines(keepends=True)[:next(
        (i for i, line in enumerate(text.splitlines()) if not line.startswith("#")), 0)])
    data = yaml.safe_load(text)
    change(data)
    path.write_text(header + yaml.safe_dump(data, sort_keys=False))


def set_inventory(lab, host: str, address: str, registry_address: str) -> None:
    """What the operator does first: the master's new address in the inventory (and the
    registry's, which lives on it)."""
    def hosts(data: dict) -> None:
        for group in data["all"]["children"]["cluster"]["children"].values():
            entry = (group.get("hosts") or {}).get(host)
            if isinstance(entry, dict) and "ansible_host" in entry:
                entry["ansible_host"] = address

    rewrite_yaml(lab.inventory / "hosts.yml", hosts)
    rewrite_yaml(lab.inventory / "group_vars" / "all.yml",
                 lambda data: data.update(cluster_registry=registry_address))


def master_readdressed(lab, name: str, master: str, old_ip: str, new_ip: str,
                       timings: dict[str, float]) -> None:
    """The fault, for real: MASTER's address changes (readdress), the operator puts the new one
    in the inventory (and the registry's, on it); the API is down after (etcd cannot listen on
    the old address). Timed."""
    started = time.monotonic()
    readdress(lab, name, master, new_ip)
    set_inventory(lab, master, new_ip, f"{new_ip}:5000")
    addresses = lab.ssh(master, "ip -o -4 addr show scope global", check=True).stdout
    assert new_ip in addresses and old_ip not in addresses, addresses
    assert wait_for(lambda: lab.ssh(master, f"{KUBECTL} get nodes --request-timeout 10s")
                    .returncode != 0, timeout=300), "the API still answers on the old address"
    timed(timings, "master IP changed", started)


def master_ip_change_finding(lab, customer: str, master: str, old_ip: str, new_ip: str,
                             timings: dict[str, float]) -> dict:
    """doctor --limit MASTER after the change: apiserver-address, a critical root cause naming
    `kubemedic recover master-ip-change` (the whole cluster: no --limit) with both addresses in
    its evidence; kubernetes-api, if found, under it."""
    started = time.monotonic()
    found = doctor(lab, customer, master).get(master, {})
    timed(timings, "doctor names master-ip-change", started)
    address = found.get("apiserver-address")
    assert address, f"doctor found no apiserver-address on {master}: {sorted(found)}"
    assert address["severity"] == "critical" and address["caused_by"] is None, address
    assert address["command"] == f"kubemedic recover master-ip-change -c {customer}", address
    assert old_ip in address["evidence"] and new_ip in address["evidence"], address
    api = found.get("kubernetes-api")
    assert api is None or api["caused_by"] == "apiserver-address", api
    return address


def rebuilt_problems(lab, record: Path, master: str, nodes: list[str], old_ip: str,
                     new_ip: str, keys: list[bytes]) -> list[str]:
    """What is wrong after recover master-ip-change rebuilt the cluster (run record RECORD):
    the old cluster's etcd data, archived before kubeadm reset emptied it, holds KEYS; the
    backup's kube-apiserver.yaml is the old one; NODES Ready, MASTER's InternalIP, advertise
    address, every kubelet.conf and the dev-box admin.conf name NEW_IP; the control plane's
    images from the registry at its new address."""
    problems: list[str] = []
    with tarfile.open(record / "backups" / master / "etcd-data.tgz") as archive:
        member = archive.extractfile("var/lib/etcd/member/snap/db")
        db = member.read() if member else b""
    problems += [f"the etcd data archive lacks {key!r}" for key in keys if key not in db]
    with tarfile.open(record / "backups" / master / "kubernetes.tgz") as archive:
        manifest = archive.extractfile("etc/kubernetes/manifests/kube-apiserver.yaml")
        if manifest is None or f"--advertise-address={old_ip}" not in manifest.read().decode():
            problems.append("the backup's kube-apiserver.yaml is not the old one")
    if not wait_for(lambda: ready_nodes(lab, master) == nodes, timeout=600):
        return [*problems, f"nodes Ready: {ready_nodes(lab, master)}"]
    found = {n["metadata"]["name"]: n for n in kubectl_json(lab, master, "nodes")["items"]}
    internal = [a["address"] for a in found[master]["status"]["addresses"]
                if a["type"] == "InternalIP"]
    if internal != [new_ip]:
        problems.append(f"{master} InternalIP {internal}")
    manifest = lab.ssh(master, "cat /etc/kubernetes/manifests/kube-apiserver.yaml",
                       check=True).stdout
    if f"--advertise-address={new_ip}" not in manifest:
        problems.append("kube-apiserver does not advertise the new address")
    for node in nodes:
        if node == master:
            continue
        conf = lab.ssh(node, "grep server: /etc/kubernetes/kubelet.conf", check=True).stdout
        if f"https://{new_ip}:6443" not in conf:
            problems.append(f"{node}: kubelet.conf {conf.strip()}")
    devbox = paths.state_dir() / "kubeconfigs" / lab.customer / "admin.conf"
    if f"https://{new_ip}:6443" not in devbox.read_text():
        problems.append("the dev-box admin.conf does not name the new address")
    images = kube_system_images(lab, master)
    if not images or not all(i.startswith(f"{new_ip}:5000/") for i in images):
        problems.append(f"control plane images {images}")
    return problems


def sleepers_again(lab, master: str) -> list[dict]:
    """The Deployment applied again after a rebuild: its 2 pods Running, on pod addresses."""
    deploy_sleepers(lab, master)
    assert wait_for(lambda: len(running_sleepers(lab, master)) == 2, timeout=300), \
        lab.ssh(master, f"{KUBECTL} describe pods -l app=sleeper").stdout[-3000:]
    pods = running_sleepers(lab, master)
    assert all(ipaddress.ip_address(p["status"]["podIP"]) in
               ipaddress.ip_network("10.244.0.0/16") for p in pods), pods
    return pods


def rebuilt_doctor_left(lab, customer: str, master: str) -> dict:
    """doctor --limit MASTER after the rebuild (the other nodes' Ready conditions were read):
    the findings left among the ones the drill is about."""
    after = doctor(lab, customer, master)
    return {(host, c): f["evidence"] for host, checks in after.items() for c, f in checks.items()
            if c in ("apiserver-address", "kubernetes-api", "node-ready", "node-registered",
                     "kubeadm-cluster-ca", "kubelet-active")}
