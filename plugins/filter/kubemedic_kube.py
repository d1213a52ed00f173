"""Filters for repairs made through the Kubernetes API: JSON patches built from an object as
`kubectl get -o json` returns it.
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
    if isinstance(deployment, str):
        try:
            deployment = json.loads(deployment)
        except ValueError as exc:
            raise AnsibleFilterError(f"kubemedic_probe_timeout_patch: not a JSON object: {exc}") from exc
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


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"kubemedic_probe_timeout_patch": probe_timeout_patch}
