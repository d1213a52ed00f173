"""Helpers shared by the real-cluster test modules (a lab from `lab up --kubernetes`): kubectl
on the first master, waiting, the CLI's JSON summary and the tasks a run record shows.

Each function takes the lab (tests/conftest.py's Lab) and the first master's node name, so a
module with its own lab name uses them unchanged.
"""

from __future__ import annotations

import hashlib
import json
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
