#!/usr/bin/python
"""Documentation of the kubemedic_inventory_check action (plugins/action/): the action runs on the
controller and never ships this file to a host, like ansible.builtin.debug's own stub."""

from __future__ import annotations

DOCUMENTATION = r"""
module: kubemedic_inventory_check
short_description: Validate a kubemedic customer inventory
description:
  - Runs kubemedic's inventory schema and cross-host rules (cli/kubemedic/inventory/validate.py)
    on the controller, the same check as C(kubemedic inventory check).
  - Fails with one message per problem (host and field named). Contacts no host.
options: {}
attributes:
  check_mode:
    support: full
    description: Only reads the inventory.
  action:
    support: full
    description: Runs on the controller only.
author: kubemedic maintainers (@kubemedic)
"""

EXAMPLES = r"""
- name: Validate | inventory matches the kubemedic schema
  kubemedic.cluster.kubemedic_inventory_check:
  run_once: true
  check_mode: false
"""

RETURN = r"""
problems:
  description: One line per problem, naming the host and the field; only when invalid.
  type: list
  elements: str
  returned: failure
"""
