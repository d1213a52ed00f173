"""From what playbooks/heal.yml scanned to what it does: findings, decisions and the plan.

One function, `heal_record()`, used by the filter plugin `kubemedic_heal_plan`
(plugins/filter/kubemedic_heal.py) inside the playbook run, so plain ansible-playbook / AWX
and `kubemedic heal` decide alike; the CLI only reads the record the play writes. Plain Python
(no click), like policy.py.
"""

from __future__ import annotations

from typing import Any

from kubemedic.heal import xid
from kubemedic.heal.policy import NodeState, Policy, decide

DISRUPTIVE = {"drain", "reboot"}  # actions the operator confirms first (unless --yes)


def node_states(nodes_json: dict[str, Any]) -> dict[str, NodeState]:
    """Kubernetes node name -> NodeState, from `kubectl get nodes -o json` ({} = no Kubernetes)."""
    states = {}
    for item in (nodes_json or {}).get("items") or []:
        meta = item.get("metadata") or {}
        ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                    for c in (item.get("status") or {}).get("conditions") or [])
        states[meta.get("name", "")] = NodeState(
            name=meta.get("name", ""), labels=dict(meta.get("labels") or {}),
            unschedulable=bool((item.get("spec") or {}).get("unschedulable")), ready=ready)
    return states


def heal_record(policy: Policy, scan: dict[str, Any], dry_run: bool = False) -> dict[str, Any]:
    """The decisions for one scan.

    scan: {"hosts": {host: [kernel log lines]}, "smi": {host: [nvidia-smi -q output lines]},
           "app": {host: [pod log lines holding the catalog's application strings]},
           "node_names": {host: Kubernetes name}, "nodes": kubectl get nodes -o json}
    A host's `codes` are its Xid numbers and the names of the catalog's GPU faults without an
    Xid (xid.scan: a failed RmInitAdapter in the kernel log, a pending row remap in nvidia-smi,
    CUDA's uncorrectable ECC error in a pod's log).
    Returns {policy, max_unavailable, warm_spare_label, dry_run, kubernetes, findings,
    decisions, plan, act, disruptive}: `plan` is what the policy decided (recorded in a dry run
    too), `act` what heal.yml runs ([] in a dry run), `disruptive` the nodes `act` drains or
    reboots (the play confirms them first).
    """
    names = scan.get("node_names") or {}
    smi = scan.get("smi") or {}
    app = scan.get("app") or {}
    findings = {}
    for host, lines in (scan.get("hosts") or {}).items():
        events = xid.scan("\n".join(lines or []), "\n".join(smi.get(host) or []),
                          "\n".join(app.get(host) or []))
        findings[host] = {"node": names.get(host) or host, "codes": xid.codes(events),
                          "events": [e.to_json() for e in events]}
    nodes_json = scan.get("nodes") or {}
    gpu_nodes = [f["node"] for f in findings.values()]
    decisions = [d.to_json() for d in decide(policy, findings, node_states(nodes_json),
                                             gpu_nodes)]
    plan = [{"host": d["host"], "node": d["node"], "actions": d["actions"]}
            for d in decisions if d["status"] == "planned" and d["actions"]]
    act = [] if dry_run else plan
    return {"policy": policy.source, "max_unavailable": policy.max_unavailable,
            "warm_spare_label": "=".join(policy.warm_spare_label), "dry_run": bool(dry_run),
            "kubernetes": bool(nodes_json), "findings": findings, "decisions": decisions,
            "plan": plan, "act": act, "disruptive": disruptive(act)}


def disruptive(plan: list[dict[str, Any]]) -> list[str]:
    """Nodes `plan` drains or reboots: the operator confirms them first (unless --yes)."""
    return [p["node"] for p in plan if {a["name"] for a in p["actions"]} & DISRUPTIVE]
