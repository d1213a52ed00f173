"""Import an OpenPAI `layout.yaml` (machine-sku + machine-list, seed 001)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from kubemedic.errors import KubemedicUsageError
from kubemedic.inventory.writer import HostSpec, covering_subnet, example_cluster_vars

# Device-plugin resource names (the layout's computing-device.type) kubemedic supports.
DEVICE_TYPES = {
    "nvidia.com/gpu": "nvidia",
    "huawei.com/ascend910": "ascend",
    "huawei.com/ascend310": "ascend",
    "huawei.com/ascend310p": "ascend",
}


def _true(value: Any) -> bool:
    return str(value).strip().lower() == "true"


def parse(path: Path) -> tuple[list[HostSpec], dict[str, Any]]:
    try:
        layout = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise KubemedicUsageError(f"{path}: cannot read OpenPAI layout: {exc}") from exc
    if not isinstance(layout, dict) or not isinstance(layout.get("machine-list"), list):
        raise KubemedicUsageError(f"{path}: no machine-list: this is not an OpenPAI layout.yaml")
    skus = layout.get("machine-sku") or {}
    problems: list[str] = []
    hosts: list[HostSpec] = []
    for index, machine in enumerate(layout["machine-list"]):
        where = f"{path}: machine-list[{index}]"
        if not isinstance(machine, dict) or not machine.get("hostname") or not machine.get("hostip"):
            problems.append(f"{where}: needs hostname and hostip")
            continue
        name, sku_name = str(machine["hostname"]), machine.get("machine-type")
        sku = skus.get(sku_name)
        if sku is None:
            problems.append(f"{where} ({name}): machine-type {sku_name!r} is not in machine-sku")
            continue
        device = (sku.get("computing-device") or {}).get("type")
        accelerator = "none"
        if device:
            accelerator = DEVICE_TYPES.get(str(device).lower(), "")
            if not accelerator:
                problems.append(f"{where} ({name}): computing-device type {device!r} is not "
                                f"supported (known: {', '.join(DEVICE_TYPES)})")
                continue
        host = HostSpec(name=name, ip=str(machine["hostip"]), accelerator=accelerator)
        if _true(machine.get("pai-master")):
            host.groups |= {"masters", "etcd"}
        if _true(machine.get("pai-worker")):
            host.groups.add("workers")
        if _true(machine.get("pai-storage")):
            host.groups.add("nfs_server")
        if accelerator != "none":
            host.groups.add("gpu" if accelerator == "nvidia" else "npu")
        if not host.groups:
            problems.append(f"{where} ({name}): neither pai-master, pai-worker nor pai-storage")
            continue
        hosts.append(host)
    masters = [h for h in hosts if "masters" in h.groups]
    if not problems and len(masters) != 1:
        problems.append(f"{path}: OpenPAI supports exactly one pai-master, found {len(masters)}")
    if problems:
        raise KubemedicUsageError(f"cannot import {path}", problems)
    first = masters[0]
    first.first_master = True
    first.groups.add("registry")
    cluster = example_cluster_vars()
    cluster.update(cluster_subnet=covering_subnet([h.ip for h in hosts]),
                   cluster_registry=f"{first.ip}:5000",
                   cluster_nfs_enabled=any("nfs_server" in h.groups for h in hosts))
    cluster.pop("cluster_devbox_cidr", None)  # unknown for an imported cluster; set by hand
    return hosts, cluster
