"""Filters for the accelerator driver roles: what the NVIDIA probe of nvidia_driver/tasks/facts.yml
printed, as versions and a GPU list.

/proc/driver/nvidia/version names the loaded kernel module in two forms:
- proprietary: `NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19 01:15:15 UTC 2023`
- open (default on recent H100/H200 installs; the architecture word is `uname -m`'s):
  `NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  550.54.15  Release Build
  (dvs-builder@U16-I3-C03-3-2)  ...` (one line)
Reading only `Kernel Module <version>` missed the open form (issue 14): verify said "no module".
"""

from __future__ import annotations

import re
from typing import Any

_MODULE = re.compile(r"^NVRM version:.*?Kernel Module(?:\s+for\s+\S+)?\s+([0-9]+(?:\.[0-9]+)+)\b",
                     re.MULTILINE)
_USERSPACE = re.compile(r"NVIDIA-SMI version\s*:\s*([0-9]+(?:\.[0-9]+)+)")
_GPU = re.compile(r"^GPU [0-9]+:")


def nvidia_module_version(text: Any) -> str:
    """The kernel module version in /proc/driver/nvidia/version (either form), '' when none."""
    match = _MODULE.search(str(text or ""))
    return match.group(1) if match else ""


def nvidia_probe(stdout: Any) -> dict[str, Any]:
    """The probe's output (`nvidia-smi --version`, `@@module`, the version file, `@@gpus`,
    `nvidia-smi -L`) as {userspace, module, gpus}; a missing part gives '' / []."""
    text = str(stdout or "")
    head, _sep, rest = text.partition("@@module")
    module, _sep, gpus = rest.partition("@@gpus")
    found = _USERSPACE.search(head)
    return {
        "userspace": found.group(1) if found else "",
        "module": nvidia_module_version(module),
        "gpus": [line for line in gpus.splitlines() if _GPU.match(line)],
    }


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "kubemedic_nvidia_module_version": nvidia_module_version,
            "kubemedic_nvidia_probe": nvidia_probe,
        }
