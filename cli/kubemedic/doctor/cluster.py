"""Read the cluster as `kubectl ... -o json` prints it (Kubernetes 1.20+ shapes) for doctor.

Pure functions over the parsed output of `kubectl get nodes -o json`, `get pods -A -o json`,
`get events -A -o json` and `kubeadm certs check-expiration` (or `openssl x509 -enddate` lines),
as collected on the first master by plugins/modules/kubemedic_doctor_cluster.py. checks.py turns
what they find into findings attributed to the node concerned.
"""

from __future__ import annotations

import fnmatch
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

# Node conditions doctor reports: type -> the status that is a problem.
CONDITIONS = {"Ready": "False", "DiskPressure": "True", "MemoryPressure": "True",
              "PIDPressure": "True"}
# A Ready condition of status Unknown means the kubelet stopped posting status.
NOT_READY = ("False", "Unknown")
# Waiting reasons of a container that cannot start; the image ones: its image is not on the node
# and cannot be pulled (ErrImageNeverPull: imagePullPolicy Never, the image must be preloaded).
IMAGE_PROBLEMS = ("ImagePullBackOff", "ErrImagePull", "ErrImageNeverPull")
WAITING_PROBLEMS = ("CrashLoopBackOff", "ContainerCannotRun", *IMAGE_PROBLEMS,
                    "CreateContainerConfigError", "CreateContainerError", "RunContainerError")
# Seconds a watched container may run unready before it is a problem (its readiness probe had
# time to pass several times: kubelet's default period is 10 s).
NOT_READY_AFTER = 60
# Characters of Kubernetes' generated name suffixes (k8s.io/apimachinery rand.SafeEncodeString).
_SAFE = "bcdfghjklmnpqrstvwxz2456789"
_DEPLOYMENT_POD = re.compile(rf"^(?P<deploy>.+)-[{_SAFE}]{{6,10}}-[{_SAFE}]{{5}}$")


def _time(text: str | None) -> float | None:
    """Epoch seconds of a Kubernetes timestamp (RFC 3339, `Z` or offset, optional fraction)."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def items(listing: Any) -> list[dict[str, Any]]:
    return [i for i in (listing or {}).get("items") or [] if isinstance(i, dict)]


def node_names(nodes: Any) -> set[str]:
    return {(n.get("metadata") or {}).get("name") for n in items(nodes)}


def node_problems(nodes: Any, name: str) -> list[dict[str, str]]:
    """The node's bad conditions: [{type, status, reason, message}]."""
    for node in items(nodes):
        if (node.get("metadata") or {}).get("name") != name:
            continue
        out = []
        for cond in (node.get("status") or {}).get("conditions") or []:
            kind, status = cond.get("type"), str(cond.get("status"))
            bad = status in NOT_READY if kind == "Ready" else CONDITIONS.get(kind) == status
            if bad:
                out.append({"type": kind, "status": status, "reason": cond.get("reason") or "",
                            "message": cond.get("message") or ""})
        return out
    return []


def _zero(quantity: Any) -> bool:
    try:
        return float(str(quantity).strip()) == 0
    except ValueError:
        return False


def zero_device_resources(nodes: Any, name: str, patterns: list[str]) -> list[str]:
    """The node's extended resources matching `patterns` (shell patterns: `huawei.com/Ascend*`)
    that it lists in its capacity or allocatable with 0 devices (a device plugin's resource known
    to kubelet, none registered): ["nvidia.com/gpu: capacity 0, allocatable 0"]."""
    for node in items(nodes):
        if (node.get("metadata") or {}).get("name") != name:
            continue
        status = node.get("status") or {}
        capacity = status.get("capacity") or {}
        allocatable = status.get("allocatable") or {}
        out = []
        for resource in sorted(set(capacity) | set(allocatable)):
            if not any(fnmatch.fnmatchcase(resource, p) for p in patterns):
                continue
            seen = {"capacity": capacity.get(resource), "allocatable": allocatable.get(resource)}
            if any(_zero(value) for value in seen.values() if value is not None):
                out.append(f"{resource}: " + ", ".join(f"{what} {value}" for what, value
                                                       in seen.items() if value is not None))
        return out
    return []


@dataclass
class PodRef:
    namespace: str
    name: str
    node: str | None
    deployment: str | None      # owner of the pod's ReplicaSet (Deployment pods only)
    object_store: str | None    # rook-ceph: the CephObjectStore an rgw pod serves


def pod_ref(pod: dict[str, Any]) -> PodRef:
    meta = pod.get("metadata") or {}
    labels = meta.get("labels") or {}
    deployment = None
    for owner in meta.get("ownerReferences") or []:
        if owner.get("kind") == "ReplicaSet":
            rs_name, hashed = owner.get("name") or "", labels.get("pod-template-hash")
            # The Deployment controller names its ReplicaSets <deployment>-<pod-template-hash>.
            if hashed and rs_name.endswith("-" + hashed):
                deployment = rs_name[:-len(hashed) - 1]
    store = labels.get("rook_object_store") if labels.get("app") == "rook-ceph-rgw" else None
    return PodRef(meta.get("namespace") or "default", meta.get("name") or "",
                  (pod.get("spec") or {}).get("nodeName"), deployment, store)


def guess_ref(namespace: str, pod_name: str) -> PodRef:
    """A pod known only by name (a kubelet log line): a Deployment's pod is named
    <deployment>-<pod-template-hash>-<5 random>."""
    match = _DEPLOYMENT_POD.match(pod_name)
    return PodRef(namespace, pod_name, None, match.group("deploy") if match else None,
                  None)


# Warning events a container start settles (a liveness failure is not: it restarts the container
# and comes back).
RESOLVED_BY_START = frozenset({"FailedMount"})


def started_after(pod: dict[str, Any], when: float | None) -> bool:
    """Is every container of the pod running and ready, started at or after `when` (epoch;
    both have one-second resolution)? Then an event about the pod from before is history (the
    mount, probe or pull it reports was fixed)."""
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    if when is None or not statuses:
        return False
    for status in statuses:
        started = _time(((status.get("state") or {}).get("running") or {}).get("startedAt"))
        if not status.get("ready") or started is None or started < when:
            return False
    return True


def being_deleted(pod: dict[str, Any]) -> bool:
    """A pod with a deletionTimestamp: its controller has replaced it, what it shows is history."""
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def pods_read(view: dict[str, Any]) -> bool:
    """Did this run list the cluster's pods (so a pod not in the list is gone)?"""
    return view.get("pods") is not None and not (view.get("errors") or {}).get("pods")


def pods_by_key(pods: Any) -> dict[tuple[str, str], dict[str, Any]]:
    return {((p.get("metadata") or {}).get("namespace") or "default",
             (p.get("metadata") or {}).get("name") or ""): p for p in items(pods)}


@dataclass
class ContainerProblem:
    ref: PodRef
    container: str
    state: str          # CrashLoopBackOff, ContainerCannotRun, ImagePullBackOff, restarts, ...
    restarts: int
    message: str        # the waiting/terminated message (goes through the knowledge base)
    last_reason: str    # lastState.terminated.reason (OOMKilled, Error, ContainerCannotRun)
    exit_code: int | None
    image: str = ""     # the container's image (pod spec)


def container_problems(pods: Any, restart_warn: int, *, watch_ready: frozenset[str] = frozenset(),
                       now: float | None = None) -> list[ContainerProblem]:
    """Containers that cannot start, restart in a loop or restart often; and the containers named
    in `watch_ready` that run but have failed their readiness probe for NOT_READY_AFTER seconds
    (state "NotReady": nothing restarts them, e.g. a portal whose nginx exited inside)."""
    out = []
    for pod in items(pods):
        if being_deleted(pod):
            # being deleted: its controller has replaced it (a rollout can be done before the
            # old pods are gone), so how its containers wait is history
            continue
        ref = pod_ref(pod)
        status = pod.get("status") or {}
        spec = pod.get("spec") or {}
        images = {c.get("name"): c.get("image") or "" for c in
                  [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]}
        for cs in [*(status.get("initContainerStatuses") or []),
                   *(status.get("containerStatuses") or [])]:
            state = cs.get("state") or {}
            last = (cs.get("lastState") or {}).get("terminated") or {}
            waiting = state.get("waiting") or {}
            terminated = state.get("terminated") or {}
            restarts = int(cs.get("restartCount") or 0)
            reason = waiting.get("reason") or ""
            if terminated.get("reason") == "ContainerCannotRun":
                reason = "ContainerCannotRun"
            running_since = _time((state.get("running") or {}).get("startedAt"))
            if (cs.get("name") in watch_ready and running_since is not None and not cs.get("ready")
                    and (now or time.time()) - running_since >= NOT_READY_AFTER):
                reason = "NotReady"
            if reason not in (*WAITING_PROBLEMS, "NotReady") and restarts < restart_warn:
                continue
            if reason not in (*WAITING_PROBLEMS, "NotReady"):
                reason = "restarts"
            message = " ".join(m for m in (waiting.get("message"), terminated.get("message"),
                                           last.get("message")) if m)
            out.append(ContainerProblem(ref, cs.get("name") or "", reason, restarts, message,
                                        last.get("reason") or terminated.get("reason") or "",
                                        last.get("exitCode", terminated.get("exitCode")),
                                        images.get(cs.get("name"), "")))
    return out


@dataclass
class Event:
    namespace: str
    kind: str           # involvedObject.kind
    name: str           # involvedObject.name
    reason: str
    message: str
    count: int
    host: str | None    # source.host / reportingInstance: the node that reported it
    last_seen: float | None


def warning_events(events: Any, since: float | None) -> list[Event]:
    """Warning events last seen after `since` (epoch seconds; None = all)."""
    out = []
    for ev in items(events):
        if ev.get("type") != "Warning":
            continue
        last = (_time((ev.get("series") or {}).get("lastObservedTime"))
                or _time(ev.get("lastTimestamp")) or _time(ev.get("eventTime"))
                or _time(ev.get("firstTimestamp")))
        if since is not None and last is not None and last < since:
            continue
        obj = ev.get("involvedObject") or ev.get("regarding") or {}
        count = int((ev.get("series") or {}).get("count") or ev.get("count") or 1)
        host = (ev.get("source") or {}).get("host") or ev.get("reportingInstance") or None
        out.append(Event(obj.get("namespace") or ev.get("metadata", {}).get("namespace")
                         or "default", obj.get("kind") or "", obj.get("name") or "",
                         ev.get("reason") or "", ev.get("message") or ev.get("note") or "",
                         count, host, last))
    return out


_KUBEADM_ROW = re.compile(
    r"^(?P<name>[a-z][\w.-]*)\s+(?P<expires>[A-Z][a-z]{2} \d{1,2}, \d{4} \d{2}:\d{2} UTC)\s+"
    r"(?P<residual>\S+)")
_OPENSSL_ROW = re.compile(r"^(?P<name>\S+)\s+notAfter=(?P<expires>.+GMT)\s*$")


def cert_expiry(certs: dict[str, Any] | None) -> list[dict[str, Any]]:
    """[{name, expires (epoch)}] from `kubeadm certs check-expiration` text or, when kubeadm is
    not there, from `<path> notAfter=<date>` lines (`openssl x509 -enddate -noout`)."""
    if not certs or not certs.get("text"):
        return []
    out, seen = [], set()
    for line in str(certs["text"]).splitlines():
        line = line.strip()
        match = _KUBEADM_ROW.match(line)
        if match:
            when = datetime.strptime(match.group("expires"), "%b %d, %Y %H:%M UTC")
        else:
            match = _OPENSSL_ROW.match(line)
            if not match:
                continue
            when = datetime.strptime(" ".join(match.group("expires").split()),
                                     "%b %d %H:%M:%S %Y GMT")
        name = match.group("name")
        if name in seen:
            continue
        seen.add(name)
        out.append({"name": name,
                    "expires": when.replace(tzinfo=timezone.utc).timestamp()})
    return out
