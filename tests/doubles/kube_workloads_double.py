#!/usr/bin/env python3
"""TEST DOUBLE for kubectl over workloads: Deployments, their pods, Warning events, ConfigMaps and
rook's custom resources (a Kubernetes API server cannot run in the lab yet; real 1.20 is coming on
branch k8s). Lives only under tests/; tests/integration/test_drills_seed000.py installs it on the
first master as /usr/bin/kubectl with a placeholder /etc/kubernetes/admin.conf.

State: one JSON file ($KUBE_WORKLOADS_STATE, default /var/lib/kube-workloads-double/state.json)
the test writes: {"nodes": [names], "deployments": {"NS/NAME": Deployment},
"customresources": {"KIND/NS/NAME": object}, "configmaps": {"NS/NAME": ConfigMap},
"latency": {"NS/NAME": seconds}}. Every call first reconciles, as the controllers would:

* rook operator: a Deployment owned by a CephObjectStore gets the livenessProbe timeout of the
  store's spec.healthCheck.livenessProbe.probe (1 s when unset) — a hand patch of the Deployment
  is put back, as in seed 002;
* Deployment controller: `replicas` pods named <deployment>-<pod-template-hash>-<5>, the hash
  from the pod template (a template change or `rollout restart` replaces every pod);
* kubelet: a pod whose liveness timeout is below the Deployment's `latency` restarts in a loop
  (CrashLoopBackOff, 65 restarts) and gets a Warning event `Unhealthy: Liveness probe failed:
  ... (Client.Timeout exceeded while awaiting headers)` from its node; a pod
  whose configMap volume does not exist waits in ContainerCreating with a Warning event
  `FailedMount: MountVolume.SetUp failed for volume "X" : configmap "X" not found`; a deleted
  pod is re-created healthy. A healthy pod's containers keep the time they started. Events stay
  after their pod is gone or healthy again (as in Kubernetes).

Supported calls (what kubemedic's roles and doctor run): get nodes|pods -A|events -A
[--field-selector type=Warning] -o json; -n NS get deployment|pods -l K=V|configmap|<rook kind>
NAME -o json; -n NS patch deployment|<rook kind> NAME --type=json|merge -p PATCH; -n NS rollout
status|restart deployment NAME; -n NS delete pod NAME;
delete|create -f FILE (ConfigMaps); -n NS delete configmap NAME [--ignore-not-found].
Every call is appended to calls.log next to the state file.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import sys
import time

STATE = os.environ.get("KUBE_WORKLOADS_STATE", "/var/lib/kube-workloads-double/state.json")
SAFE = "bcdfghjklmnpqrstvwxz2456789"
ROOK_KINDS = {"cephobjectstore": "CephObjectStore", "cephcluster": "CephCluster"}


class Refused(Exception):
    pass


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def safe(text: str, length: int) -> str:
    digest = hashlib.sha256(text.encode()).digest()
    return "".join(SAFE[b % len(SAFE)] for b in digest[:length])


def load() -> dict:
    with open(STATE, encoding="utf-8") as handle:
        state = json.load(handle)
    for key in ("deployments", "customresources", "configmaps", "latency", "pods",
                "deleted_pods", "started"):
        state.setdefault(key, {})
    state.setdefault("events", [])
    return state


def save(state: dict) -> None:
    temporary = f"{STATE}.{os.getpid()}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(state, handle, indent=1)
    os.replace(temporary, STATE)


def containers(deploy: dict) -> list[dict]:
    return deploy["spec"]["template"]["spec"]["containers"]


def rook_operator(state: dict) -> None:
    for deploy in state["deployments"].values():
        for owner in deploy["metadata"].get("ownerReferences") or []:
            if owner.get("kind") != "CephObjectStore":
                continue
            key = f"cephobjectstore/{deploy['metadata']['namespace']}/{owner['name']}"
            store = state["customresources"].get(key) or {}
            probe = ((((store.get("spec") or {}).get("healthCheck") or {})
                      .get("livenessProbe") or {}).get("probe") or {})
            wanted = int(probe.get("timeoutSeconds", 1))
            for spec in containers(deploy):
                if "livenessProbe" in spec:
                    spec["livenessProbe"]["timeoutSeconds"] = wanted


def template_hash(deploy: dict) -> str:
    return safe(json.dumps(deploy["spec"]["template"], sort_keys=True), 10)


def reconcile(state: dict) -> None:
    rook_operator(state)
    wanted_pods: dict[str, dict] = {}
    for key, deploy in state["deployments"].items():
        ns, name = key.split("/", 1)
        hashed = template_hash(deploy)
        labels = dict(deploy["spec"]["template"].get("metadata", {}).get("labels") or {})
        node = deploy["spec"]["template"]["spec"].get("nodeName") or state["nodes"][0]
        latency = float(state["latency"].get(key, 0))
        for index in range(int(deploy["spec"].get("replicas", 1))):
            generation = state["deleted_pods"].get(f"{key}/{hashed}/{index}", 0)
            pod_name = f"{name}-{hashed}-{safe(f'{hashed}{index}{generation}', 5)}"
            pod_key = f"{ns}/{pod_name}"
            timeouts = [int((c.get("livenessProbe") or {}).get("timeoutSeconds", 1))
                        for c in containers(deploy) if "livenessProbe" in c]
            missing = [v["configMap"]["name"] for v in deploy["spec"]["template"]["spec"].get(
                "volumes") or [] if "configMap" in v
                and f"{ns}/{v['configMap']['name']}" not in state["configmaps"]]
            healthy = not missing and not (
                timeouts and latency > min(timeouts))
            if healthy:
                state["started"].setdefault(pod_key, now())
            else:
                state["started"].pop(pod_key, None)
            statuses = []
            for spec in containers(deploy):
                status = {"name": spec["name"], "ready": True, "restartCount": 0,
                          "image": spec.get("image", ""),
                          "state": {"running": {"startedAt": state["started"].get(pod_key)
                                                or now()}}}
                if missing:
                    status.update(ready=False, state={"waiting": {"reason": "ContainerCreating"}})
                probe = spec.get("livenessProbe")
                if probe is not None and latency > int(probe.get("timeoutSeconds", 1)):
                    status.update(ready=False, restartCount=65, state={"waiting": {
                        "reason": "CrashLoopBackOff",
                        "message": f"back-off 5m0s restarting failed container={spec['name']} "
                                   f"pod={pod_name}_{ns}"}},
                        lastState={"terminated": {"reason": "Error", "exitCode": 137}})
                statuses.append(status)
            for name_missing in missing:
                state["events"] = [e for e in state["events"]
                                   if not (e["involvedObject"]["name"] == pod_name
                                           and e["reason"] == "FailedMount")]
                state["events"].append({
                    "kind": "Event", "type": "Warning", "reason": "FailedMount", "count": 12,
                    "metadata": {"namespace": ns, "name": f"{pod_name}.mount"},
                    "involvedObject": {"kind": "Pod", "namespace": ns, "name": pod_name},
                    "source": {"component": "kubelet", "host": node},
                    "lastTimestamp": now(), "firstTimestamp": now(),
                    "message": f'MountVolume.SetUp failed for volume "{name_missing}" : '
                               f'configmap "{name_missing}" not found'})
            if timeouts and latency > min(timeouts):
                state["events"] = [e for e in state["events"]
                                   if e["involvedObject"]["name"] != pod_name]
                state["events"].append({
                    "kind": "Event", "type": "Warning", "reason": "Unhealthy", "count": 65,
                    "metadata": {"namespace": ns, "name": f"{pod_name}.double"},
                    "involvedObject": {"kind": "Pod", "namespace": ns, "name": pod_name},
                    "source": {"component": "kubelet", "host": node},
                    "lastTimestamp": now(), "firstTimestamp": now(),
                    "message": 'Liveness probe failed: Get "http://10.244.1.5:8080/": net/http: '
                               "request canceled (Client.Timeout exceeded while awaiting "
                               "headers)"})
            wanted_pods[pod_key] = {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": pod_name, "namespace": ns,
                             "annotations": {"double/slot": f"{key}/{hashed}/{index}"},
                             "labels": {**labels, "pod-template-hash": hashed},
                             "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                                  "name": f"{name}-{hashed}",
                                                  "controller": True}]},
                "spec": {"nodeName": node, "containers": containers(deploy)},
                "status": {"phase": "Running", "containerStatuses": statuses}}
    state["pods"] = wanted_pods


def listing(items: list) -> dict:
    return {"apiVersion": "v1", "kind": "List", "items": items,
            "metadata": {"resourceVersion": ""}}


def option(argv: list[str], *names: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg in names and i + 1 < len(argv):
            return argv[i + 1]
        for name in names:
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def json_patch(obj: dict, ops: list[dict]) -> None:
    for op in ops:
        if op.get("op") not in ("add", "replace"):
            raise Refused(f"patch op {op.get('op')!r} not supported by the double")
        parts = [p for p in op["path"].split("/") if p]
        node = obj
        for part in parts[:-1]:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        node[parts[-1]] = op["value"]


def merge_patch(obj: dict, patch: dict) -> None:
    for key, value in patch.items():
        if value is None:
            obj.pop(key, None)
        elif isinstance(value, dict) and isinstance(obj.get(key), dict):
            merge_patch(obj[key], value)
        else:
            obj[key] = copy.deepcopy(value)


def kubectl(argv: list[str]) -> int:
    state = load()
    reconcile(state)
    ns = option(argv, "-n", "--namespace") or "default"
    words, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in ("-n", "--namespace", "--kubeconfig", "-o", "-p", "-l", "-c", "-f",
                   "--type", "--field-selector", "--timeout"):
            skip = True
            continue
        if arg == "--":
            break
        if not arg.startswith("-"):
            words.append(arg)
    kind = words[1].lower().rstrip("s") if len(words) > 1 else ""
    kind = {"deploy": "deployment", "cm": "configmap", "no": "node"}.get(kind, kind)
    name = words[2] if len(words) > 2 else ""
    out = None
    if words[:1] == ["get"] and kind == "node":
        out = listing([{"apiVersion": "v1", "kind": "Node", "metadata": {"name": n},
                        "status": {"conditions": [{"type": "Ready", "status": "True"}]}}
                       for n in state["nodes"]])
    elif words[:1] == ["get"] and kind == "pod":
        pods = [p for k, p in sorted(state["pods"].items())
                if "-A" in argv or k.startswith(ns + "/")]
        selector = option(argv, "-l")
        if selector:
            key, _, value = selector.partition("=")
            pods = [p for p in pods if p["metadata"]["labels"].get(key) == value]
        out = listing(pods)
    elif words[:1] == ["get"] and kind == "event":
        events = state["events"]
        selector = option(argv, "--field-selector")
        if selector == "type=Warning":
            events = [e for e in events if e["type"] == "Warning"]
        out = listing(events)
    elif words[:1] == ["get"] and kind in ("deployment", "configmap", *ROOK_KINDS):
        table = {"deployment": state["deployments"], "configmap": state["configmaps"]}
        found = (table[kind].get(f"{ns}/{name}") if kind in table
                 else state["customresources"].get(f"{kind}/{ns}/{name}"))
        if found is None:
            raise Refused(f'Error from server (NotFound): {kind}s "{name}" not found')
        out = found
    elif words[:1] == ["patch"] and kind in ("deployment", *ROOK_KINDS):
        target = (state["deployments"].get(f"{ns}/{name}") if kind == "deployment"
                  else state["customresources"].get(f"{kind}/{ns}/{name}"))
        if target is None:
            raise Refused(f'Error from server (NotFound): {kind}s "{name}" not found')
        patch = json.loads(option(argv, "-p") or "null")
        if option(argv, "--type") == "json":
            json_patch(target, patch)
        else:
            merge_patch(target, patch)
        print(f"{kind}.apps/{name} patched" if kind == "deployment" else f"{kind}/{name} patched")
    elif words[:2] == ["rollout", "restart"]:
        deploy = state["deployments"].get(f"{ns}/{words[3] if len(words) > 3 else ''}")
        if deploy is None:
            raise Refused("Error from server (NotFound): deployment not found")
        deploy["spec"]["template"].setdefault("metadata", {}).setdefault("annotations", {})[
            "kubectl.kubernetes.io/restartedAt"] = f"{time.time():.6f}"
        print(f"deployment.apps/{words[3]} restarted")
    elif words[:2] == ["rollout", "status"]:
        if f"{ns}/{words[3]}" not in state["deployments"]:
            raise Refused("Error from server (NotFound): deployment not found")
        reconcile(state)
        key = f"{ns}/{words[3]}"
        bad = [p["metadata"]["name"] for k, p in state["pods"].items()
               if k.startswith(ns + "/" + words[3] + "-")
               and not all(c["ready"] for c in p["status"]["containerStatuses"])]
        if bad:
            raise Refused(f"error: timed out waiting for the condition ({key}: {bad} not ready)")
        print(f'deployment "{words[3]}" successfully rolled out')
    elif words[:2] == ["delete", "pod"]:
        pod = state["pods"].get(f"{ns}/{name}")
        if pod is None:
            raise Refused(f'Error from server (NotFound): pods "{name}" not found')
        slot = pod["metadata"]["annotations"]["double/slot"]
        state["deleted_pods"][slot] = state["deleted_pods"].get(slot, 0) + 1
        print(f'pod "{name}" deleted')
    elif words[:1] in (["create"], ["delete"]) and option(argv, "-f"):
        import yaml  # only for -f (python3-yaml on the node, as kubectl parses YAML itself)

        with open(option(argv, "-f"), encoding="utf-8") as handle:
            docs = [d for d in yaml.safe_load_all(handle) if d]
        for doc in docs:
            if doc.get("kind") != "ConfigMap":
                raise Refused(f"{doc.get('kind')}: only ConfigMaps are doubled for -f")
            key = f"{doc['metadata'].get('namespace') or ns}/{doc['metadata']['name']}"
            if words[0] == "create":
                if key in state["configmaps"]:
                    raise Refused(f'Error from server (AlreadyExists): configmaps '
                                  f'"{doc["metadata"]["name"]}" already exists')
                state["configmaps"][key] = doc
                print(f"configmap/{doc['metadata']['name']} created")
            else:
                if state["configmaps"].pop(key, None) is not None:
                    print(f'configmap "{doc["metadata"]["name"]}" deleted')
                elif "--ignore-not-found" not in argv:
                    raise Refused(f'Error from server (NotFound): configmaps '
                                  f'"{doc["metadata"]["name"]}" not found')
    elif words[:2] == ["delete", "configmap"]:
        if state["configmaps"].pop(f"{ns}/{name}", None) is None and \
                "--ignore-not-found" not in argv:
            raise Refused(f'Error from server (NotFound): configmaps "{name}" not found')
        print(f'configmap "{name}" deleted')
    else:
        raise Refused(f"kube_workloads_double: unsupported call {argv}")
    reconcile(state)
    save(state)
    if out is not None:
        print(json.dumps(out))
    return 0


def main() -> int:
    argv = sys.argv[1:]
    with open(os.path.join(os.path.dirname(STATE), "calls.log"), "a", encoding="utf-8") as log:
        log.write(json.dumps(argv) + "\n")
    try:
        return kubectl(argv)
    except Refused as exc:
        print(str(exc), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
