"""Kubernetes versions kubemedic supports, and what each one needs from the roles.

One copy for the inventory check (cli/kubemedic/inventory/validate.py) and the roles (filter
`kubemedic_kubeadm_api` in plugins/filter/kubemedic_kube.py imports this module).
"""

from __future__ import annotations

import re

# Oldest and newest minor release kubemedic's roles are written and tested for: 1.20 (the seeds'
# clusters; the rehearsal lab runs real 1.20.2) to 1.34 (kubeadm's v1beta4 config API).
SUPPORTED_MIN = (1, 20)
SUPPORTED_MAX = (1, 34)

# kubeadm's config API per minor release: (first minor, API). v1beta2 is the only one kubeadm
# 1.20/1.21 read; v1beta3 arrived in 1.22 (v1beta2 removed in 1.26); v1beta4 in 1.31.
KUBEADM_APIS = (((1, 31), "v1beta4"), ((1, 22), "v1beta3"), ((1, 0), "v1beta2"))

_VERSION = re.compile(r"v?(\d+)\.(\d+)(?:\.(\d+))?")


def minor(version: object) -> tuple[int, int]:
    """(major, minor) of "1.20.2" (a leading v is accepted); ValueError otherwise."""
    match = _VERSION.fullmatch(str(version).strip())
    if not match:
        raise ValueError(f"{version!r} is not a Kubernetes version like 1.28.2")
    return int(match.group(1)), int(match.group(2))


def supported_range() -> str:
    low, high = SUPPORTED_MIN, SUPPORTED_MAX
    return f"{low[0]}.{low[1]} to {high[0]}.{high[1]}"


def unsupported(version: object) -> str | None:
    """Why `version` is outside the supported range, or None when it is inside."""
    found = minor(version)
    if SUPPORTED_MIN <= found <= SUPPORTED_MAX:
        return None
    return (f"Kubernetes {version} is not supported: kubemedic supports {supported_range()} "
            f"(kubeadm config APIs v1beta2, v1beta3, v1beta4)")


def kubeadm_api(version: object) -> str:
    """kubeadm config API version (v1beta2, v1beta3 or v1beta4) kubeadm `version` reads."""
    found = minor(version)
    return next(api for first, api in KUBEADM_APIS if found >= first)
