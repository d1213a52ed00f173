"""Import an OpenPAI `layout.yaml` (machine-sku + machine-list, seed 001)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from kubemedic import inputs
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


def _device_type(sku: Any) -> Any:
    device = sku.get("computing-device") if isinstance(sku, dict) else None
    return device.get("type") if isinstance(device, dict) else device


def parse(path: Path) -> tuple[list[HostSpec], dict[str, Any]]:
    layout = inputs.load_yaml_file(path)
    if not isinstance(layout, dict) or not isinstance(layout.get("machine-list"), list):
        raise KubemedicUsageError(f"{path}: no machine-list: this is not an OpenPAI layout.yaml")
    skus = layout.get("machine-sku") or {}
    if not isinstance(skus, dict):
        raise KubemedicUsageError(f"{path}: machine-sku must be a mapping of sku name to "
                                  f"sku, found {inputs.shown(skus)}")
    problems: list[str] = []
    hosts: list[HostSpec] = []
    for index, machine in enumerate(layout["machine-list"]):
        where = f"{path}: machine-list[{index}]"
        if not isinstance(machine, dict) or not machine.get("hostname") or not machine.get("hostip"):
            problems.append(f"{where}: needs hostname and hostip")
            continue
        name, sku_name = str(machine["hostname"]), machine.get("machine-type")
        shown_name = inputs.shown(name)
        if not isinstance(sku_name, str) or not isinstance(skus.get(sku_name), dict):
            problems.append(f"{where} ({shown_name}): machine-type {inputs.shown(sku_name)} is "
                            "not a sku of machine-sku")
            continue
        try:
            ip = str(ipaddress.ip_address(str(machine["hostip"])))
        except ValueError:
            problems.append(f"{where} ({shown_name}): hostip {inputs.shown(machine['hostip'])} "
                            "is not an IP address")
            continue
        device = _device_type(skus[sku_name])
        accelerator = "none"
        if device:
            accelerator = DEVICE_TYPES.get(str(device).lower(), "") if isinstance(device, str) else ""
            if not accelerator:
                problems.append(f"{where} ({shown_name}): computing-device type "
                                f"{inputs.shown(device)} is not supported (known: "
                                f"{', '.join(DEVICE_TYPES)})")
                continue
        host = HostSpec(name=name, ip=ip, accelerator=accelerator)
        if _true(machine.get("pai-master")):
            host.groups |= {"masters", "etcd"}
        if _true(machine.get("pai-worker")):
            host.groups.add("workers")
        if _true(machine.get("pai-storage")):
            host.groups.add("nfs_server")
        if accelerator != "none":
            host.groups.add("gpu" if accelerator == "nvidia" else "npu")
        if not host.groups:
            problems.append(f"{where} ({shown_name}): neither pai-master, pai-worker nor "
                            "pai-storage")
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
    try:
        subnet = covering_subnet([h.ip for h in hosts])
    except ValueError as exc:
        raise KubemedicUsageError(f"cannot import {path}: host addresses: "
                                  f"{inputs.clip(str(exc))}") from None
    cluster.update(cluster_subnet=subnet, cluster_registry=f"{first.ip}:5000",
                   cluster_nfs_enabled=any("nfs_server" in h.groups for h in hosts))
    cluster.pop("cluster_devbox_cidr", None)  # unknown for an imported cluster; set by hand
    return hosts, cluster
