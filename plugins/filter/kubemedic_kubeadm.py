"""Filters for kubeadm clusters: `kubemedic_kubeadm_api` (the kubeadm config API a Kubernetes
version reads), `kubemedic_node_pod_cidrs` (each node's pod CIDR and address) and
`kubemedic_kubeadm_phases_left` (init phases not skipped).

The version table lives in cli/kubemedic/kubeversions.py of the same checkout (one copy for the
inventory check, the CLI, plain ansible-playbook and AWX).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ansible.errors import AnsibleFilterError

_CLI_DIR = Path(__file__).resolve().parents[2] / "cli"


def _kubeversions():
    try:
        from kubemedic import kubeversions
    except ImportError:
        sys.path.insert(0, str(_CLI_DIR))
        from kubemedic import kubeversions
    return kubeversions


def kubeadm_api(version: Any) -> str:
    """v1beta2 below Kubernetes 1.22, v1beta3 for 1.22-1.30, v1beta4 from 1.31."""
    try:
        return _kubeversions().kubeadm_api(version)
    except ValueError as exc:
        raise AnsibleFilterError(f"kubemedic_kubeadm_api: {exc}") from exc


def node_pod_cidrs(lines: Any) -> dict[str, dict[str, str]]:
    """{node: {cidr, address}} from lines `<name> <podCIDR> <InternalIP>` (kubectl get nodes with
    a jsonpath); nodes without a pod CIDR yet (two fields) are left out."""
    found = {}
    for line in lines or []:
        fields = str(line).split()
        if len(fields) >= 3:
            found[fields[0]] = {"cidr": fields[1], "address": fields[2]}
    return found


def kubeadm_phases_left(phases: Any, skipped: Any) -> list[str]:
    """The `kubeadm init phase` command lines of PHASES (e.g. 'addon coredns', 'upload-certs
    --upload-certs') that --skip-phases SKIPPED does not skip: a phase is skipped by its own
    path ('addon/coredns'), its parent ('addon') or the parent's 'all' ('addon/all')."""
    skip = {str(s).strip() for s in skipped or []}
    left = []
    for phase in phases or []:
        words = [w for w in str(phase).split() if not w.startswith("-")]
        if not words:
            raise AnsibleFilterError(f"kubemedic_kubeadm_phases_left: {phase!r} names no phase")
        path, parent = "/".join(words), words[0]
        if path in skip or parent in skip or f"{parent}/all" in skip:
            continue
        left.append(str(phase))
    return left


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"kubemedic_kubeadm_api": kubeadm_api,
                "kubemedic_node_pod_cidrs": node_pod_cidrs,
                "kubemedic_kubeadm_phases_left": kubeadm_phases_left}
