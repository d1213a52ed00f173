"""Filters for repairs made through the Kubernetes API: JSON patches built from an object as
`kubectl get -o json` returns it, and the PodDisruptionBudgets that block a drain.
"""

from __future__ import annotations

import json
from typing import Any

from ansible.errors import AnsibleFilterError


def _int(value: Any, default: int = 0) -> int:
    """Like Jinja's `int` filter: 5, "5" and "5.0" are 5; anything else is the default."""
    try:
        return int(value)
    except (TypeError, ValueError):
        try:
            return int(float(value))
        except (TypeError, ValueError):
            return default


def probe_timeout_patch(deployment: Any, timeout_seconds: Any, container: Any = "") -> list[dict]:
    """JSON patch (RFC 6902, `kubectl patch --type=json`) setting livenessProbe.timeoutSeconds to
    `timeout_seconds` on every container of the deployment (or only the one named `container`)
    whose liveness probe has another timeout (Kubernetes' default is 1 s). Containers without a
    livenessProbe are left alone; an empty list means nothing to change.

    `deployment` is the object as a dict or as the JSON text kubectl printed.
    """
    deployment = _object(deployment, "kubemedic_probe_timeout_patch")
    try:
        containers = deployment["spec"]["template"]["spec"]["containers"]
    except (KeyError, TypeError) as exc:
        raise AnsibleFilterError("kubemedic_probe_timeout_patch: no spec.template.spec.containers "
                                 "in the object (is it a deployment?)") from exc
    wanted = _int(timeout_seconds)
    only = str(container or "")
    patch = []
    for index, spec in enumerate(containers):
        if "livenessProbe" not in spec or (only and spec.get("name") != only):
            continue
        probe = spec["livenessProbe"] or {}
        if _int(probe.get("timeoutSeconds", 1)) != wanted:
            patch.append({"op": "add",
                          "path": f"/spec/template/spec/containers/{index}/livenessProbe/timeoutSeconds",
                          "value": wanted})
    return patch


# rook-ceph: the operator writes these Deployments from its custom resources and puts a hand
# patch back at its next reconcile (seed 002). CephCluster's daemons by their pods' `app` label.
ROOK_API = "ceph.rook.io"
ROOK_CLUSTER_DAEMONS = {"rook-ceph-mon": "mon", "rook-ceph-mgr": "mgr", "rook-ceph-osd": "osd"}


def _object(value: Any, filter_name: str) -> dict:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise AnsibleFilterError(f"{filter_name}: not a JSON object: {exc}") from exc
    if not isinstance(value, dict):
        raise AnsibleFilterError(f"{filter_name}: not a JSON object")
    return value


def probe_owner(deployment: Any) -> dict[str, str]:
    """Where a deployment's liveness probe is really set: {kind, resource, name, daemon, path}.

    kind Deployment: nobody reconciles it, patch the Deployment itself. kind CephObjectStore
    (an rgw Deployment) or CephCluster (mon/mgr/osd): the rook operator owns it, the lasting
    setting is the custom resource's healthCheck at `path` (dotted, under the CR).
    """
    deployment = _object(deployment, "kubemedic_probe_owner")
    meta = deployment.get("metadata") or {}
    labels = meta.get("labels") or {}
    for owner in meta.get("ownerReferences") or []:
        api = str(owner.get("apiVersion") or "").split("/", maxsplit=1)[0]
        if api != ROOK_API:
            continue
        if owner.get("kind") == "CephObjectStore":
            return {"kind": "CephObjectStore", "resource": "cephobjectstore",
                    "name": owner.get("name") or "", "daemon": "rgw",
                    "path": "spec.healthCheck.livenessProbe.probe.timeoutSeconds"}
        daemon = ROOK_CLUSTER_DAEMONS.get(labels.get("app", ""))
        if owner.get("kind") == "CephCluster" and daemon:
            return {"kind": "CephCluster", "resource": "cephcluster",
                    "name": owner.get("name") or "", "daemon": daemon,
                    "path": f"spec.healthCheck.livenessProbe.{daemon}.probe.timeoutSeconds"}
    return {"kind": "Deployment", "resource": "deployment", "name": meta.get("name") or "",
            "daemon": "", "path": ""}


def rook_probe_patch(resource: Any, owner: dict[str, str], timeout_seconds: Any) -> dict:
    """Merge patch (`kubectl patch --type=merge`) setting the liveness probe timeout where
    `probe_owner` says the operator reads it; {} when it already has that value. A disabled
    probe (`disabled: true`) is left disabled: then the timeout is not what restarts the pod."""
    resource = _object(resource, "kubemedic_rook_probe_patch")
    if not owner.get("path"):
        raise AnsibleFilterError("kubemedic_rook_probe_patch: the deployment has no rook owner")
    keys = owner["path"].split(".")
    node: Any = resource
    for key in keys[:-1]:
        if key == "probe" and node.get("disabled") is True:
            return {}
        node = node.get(key)
        node = node if isinstance(node, dict) else {}
    wanted = _int(timeout_seconds)
    current = node.get(keys[-1])
    if current is not None and _int(current) == wanted:
        return {}
    patch: dict = {keys[-1]: wanted}
    for key in reversed(keys[:-1]):
        patch = {key: patch}
    return patch


def blocked_budgets(budgets: Any) -> list[str]:
    """NAMESPACE/NAME of each PodDisruptionBudget that allows no disruption now
    (status.disruptionsAllowed 0), from `kubectl get poddisruptionbudgets -A -o json` as text or
    dict. Anything that is not such a list (kubectl failed, printed nothing) gives []: the
    caller's message then names no budget rather than failing."""
    if isinstance(budgets, str):
        try:
            budgets = json.loads(budgets or "{}")
        except ValueError:
            return []
    items = budgets.get("items") if isinstance(budgets, dict) else None
    blocked = []
    for pdb in items if isinstance(items, list) else []:
        if not isinstance(pdb, dict):
            continue
        status = pdb.get("status") if isinstance(pdb.get("status"), dict) else {}
        meta = pdb.get("metadata") if isinstance(pdb.get("metadata"), dict) else {}
        if "disruptionsAllowed" in status and _int(status["disruptionsAllowed"], 1) == 0:
            blocked.append(f"{meta.get('namespace', '')}/{meta.get('name', '')}")
    return blocked


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"kubemedic_probe_timeout_patch": probe_timeout_patch,
                "kubemedic_probe_owner": probe_owner,
                "kubemedic_rook_probe_patch": rook_probe_patch,
                "kubemedic_blocked_budgets": blocked_budgets}
