"""Helpers shared by the real-cluster test modules (a lab from `lab up --kubernetes`): kubectl
on the first master, waiting, the CLI's JSON summary and the tasks a run record shows, doctor
and its printed commands, the private registry, and the reset --reinit checks.

Each function takes the lab (tests/conftest.py's Lab) and the first master's node name (or the
lab's customer name), so a module with its own lab name uses them unchanged; the checks shared by
the docker and containerd modules' reset tests return lists of problems.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import tarfile
import time
from pathlib import Path

import yaml

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
