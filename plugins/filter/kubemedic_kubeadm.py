"""Filters for kubeadm clusters: `kubemedic_kubeadm_api` (the kubeadm config API a Kubernetes
version reads) and `kubemedic_node_pod_cidrs` (each node's pod CIDR and address).

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


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"kubemedic_kubeadm_api": kubeadm_api,
                "kubemedic_node_pod_cidrs": node_pod_cidrs}
