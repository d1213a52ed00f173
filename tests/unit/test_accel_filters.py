"""plugins/filter/kubemedic_accel.py: the NVIDIA driver probe of roles/nvidia_driver/tasks/facts.yml,
over real /proc/driver/nvidia/version lines of both kernel module flavours (issue 14: the open
modules' form was read as "no module")."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import filter_loader, init_plugin_loader
from ansible.template import Templar

REPO = Path(__file__).resolve().parents[2]
_SPEC = importlib.util.spec_from_file_location(
    "kubemedic_accel", REPO / "plugins" / "filter" / "kubemedic_accel.py")
accel = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(accel)
init_plugin_loader()
filter_loader.add_directory(str(REPO / "plugins" / "filter"))

PROPRIETARY = ("NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19 01:15:15 UTC 2023\n"
               "GCC version:  gcc version 11.4.0 (Ubuntu 11.4.0-1ubuntu1~22.04)\n")
OPEN = ("NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  550.54.15  Release Build  "
        "(dvs-builder@U16-I3-C03-3-2)  Tue Mar  5 22:17:14 UTC 2024\n"
        "GCC version:  gcc version 12.3.0 (Ubuntu 12.3.0-1ubuntu1~22.04)\n")
OPEN_ARM = ("NVRM version: NVIDIA UNIX Open Kernel Module for aarch64  565.57.01  Release Build  "
            "(dvs-builder@U16-A24-9-2)  Thu Oct 10 12:15:00 UTC 2024\n")


@pytest.mark.parametrize(("text", "version"), [
    (PROPRIETARY, "535.104.05"),
    (OPEN, "550.54.15"),
    (OPEN_ARM, "565.57.01"),
    ("NVRM version: NVIDIA UNIX Open Kernel Module for aarch64  TempVersion  Release Build\n", ""),
    ("", ""),
    ("cat: /proc/driver/nvidia/version: No such file or directory\n", ""),
])
def test_module_version(text: str, version: str) -> None:
    assert accel.nvidia_module_version(text) == version


def probe(module_file: str) -> str:
    return ("NVIDIA-SMI version  : 550.54.15\nNVML version        : 550.54\n"
            "DRIVER version      : 550.54.15\nCUDA Version        : 12.4\n"
            f"@@module\n{module_file}@@gpus\n"
            "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-5bd5c3e5-4e1e-2b1f-6a3c-0d2f1b9d8e11)\n"
            "GPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-7c1e9a2b-33d4-4a55-9e0f-1a2b3c4d5e6f)\n")


@pytest.mark.parametrize("module_file", [OPEN, PROPRIETARY.replace("535.104.05", "550.54.15")],
                         ids=["open", "proprietary"])
def test_probe(module_file: str) -> None:
    assert accel.nvidia_probe(probe(module_file)) == {
        "userspace": "550.54.15", "module": "550.54.15",
        "gpus": ["GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-5bd5c3e5-4e1e-2b1f-6a3c-0d2f1b9d8e11)",
                 "GPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-7c1e9a2b-33d4-4a55-9e0f-1a2b3c4d5e6f)"]}


def test_probe_without_a_driver() -> None:
    out = "/bin/sh: 1: nvidia-smi: not found\n@@module\n@@gpus\n/bin/sh: 1: nvidia-smi: not found\n"
    assert accel.nvidia_probe(out) == {"userspace": "", "module": "", "gpus": []}


@pytest.mark.parametrize("module_file", [OPEN, PROPRIETARY.replace("535.104.05", "550.54.15")],
                         ids=["open", "proprietary"])
def test_facts_task_reads_both_forms(module_file: str) -> None:
    """facts.yml's set_fact, rendered with ansible-core's Templar over the probe's real output:
    the open kernel module's version is found (verify compares it to the userspace one)."""
    loader = DataLoader()
    tasks = loader.load_from_file(str(REPO / "roles" / "nvidia_driver" / "tasks" / "facts.yml"),
                                  trusted_as_template=True)
    task = next(t for t in tasks if "ansible.builtin.set_fact" in t)
    variables = {"_nvidia_driver_probe": {"stdout": probe(module_file)}, **task.get("vars", {})}
    templar = Templar(loader=loader, variables=variables)
    facts = {k: templar.template(v) for k, v in task["ansible.builtin.set_fact"].items()}
    assert facts["_nvidia_driver_module"] == "550.54.15"
    assert facts["_nvidia_driver_userspace"] == "550.54.15"
    assert len(facts["_nvidia_driver_gpus"]) == 2
