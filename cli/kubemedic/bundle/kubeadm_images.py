"""Images `kubeadm config images list` gives for a Kubernetes version, without kubeadm.

Tags are kubeadm's defaults for each minor release (pause/etcd/coredns); kubeadm moved from
k8s.gcr.io to registry.k8s.io in 1.25. Patch releases sometimes bump etcd: add --image for an
exact list, or generate the list with kubeadm on a connected box (`--images-file`).
"""

from __future__ import annotations

import re

# minor -> (pause, etcd, coredns)
_TABLE: dict[tuple[int, int], tuple[str, str, str]] = {
    (1, 18): ("3.2", "3.4.3-0", "1.6.7"),
    (1, 19): ("3.2", "3.4.13-0", "1.7.0"),
    (1, 20): ("3.2", "3.4.13-0", "1.7.0"),
    (1, 21): ("3.4.1", "3.4.13-0", "v1.8.0"),
    (1, 22): ("3.5", "3.5.0-0", "v1.8.4"),
    (1, 23): ("3.6", "3.5.1-0", "v1.8.6"),
    (1, 24): ("3.7", "3.5.3-0", "v1.8.6"),
    (1, 25): ("3.8", "3.5.4-0", "v1.9.3"),
    (1, 26): ("3.9", "3.5.6-0", "v1.9.3"),
    (1, 27): ("3.9", "3.5.7-0", "v1.10.1"),
    (1, 28): ("3.9", "3.5.9-0", "v1.10.1"),
    (1, 29): ("3.9", "3.5.10-0", "v1.11.1"),
    (1, 30): ("3.9", "3.5.12-0", "v1.11.1"),
    (1, 31): ("3.10", "3.5.15-0", "v1.11.3"),
}


def kubeadm_images(version: str) -> list[str]:
    match = re.fullmatch(r"v?(\d+)\.(\d+)\.(\d+)", str(version).strip())
    if not match:
        raise ValueError(f"kubernetes version {version!r} is not like 1.28.2")
    major, minor, _patch = (int(x) for x in match.groups())
    if (major, minor) not in _TABLE:
        known = ", ".join(f"{a}.{b}" for a, b in sorted(_TABLE))
        raise ValueError(f"kubernetes {version}: no kubeadm image list known for "
                         f"{major}.{minor} (known: {known}); pass the list with --images-file")
    pause, etcd, coredns = _TABLE[(major, minor)]
    repo = "registry.k8s.io" if (major, minor) >= (1, 25) else "k8s.gcr.io"
    tag = f"v{major}.{minor}.{match.group(3)}"
    images = [f"{repo}/{name}:{tag}" for name in
              ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy")]
    images.append(f"{repo}/pause:{pause}")
    images.append(f"{repo}/etcd:{etcd}")
    images.append(f"{repo}/coredns/coredns:{coredns}" if coredns.startswith("v")
                  else f"{repo}/coredns:{coredns}")
    return images
