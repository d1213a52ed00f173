#!/usr/bin/python
"""Which TCP ports of a host accept a connection from where this module runs (read-only)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: kubemedic_tcp_reach
short_description: Try a TCP connection to each port of one address, in parallel
description:
  - Read-only. doctor runs it on a host outside the cluster subnet (the lab's outside node, or
    the dev-box) to tell which listening ports of a node are reachable from outside.
options:
  host: {description: Address connected to., type: str, required: true}
  ports: {description: TCP ports tried., type: list, elements: int, required: true}
  timeout: {description: Seconds one connection attempt may take., type: float, required: true}
author: kubemedic maintainers (@kubemedic)
"""

EXAMPLES = r"""
- name: Doctor | ports reachable from outside
  kubemedic_tcp_reach:
    host: 192.168.100.11
    ports: [22, 2379, 10250]
    timeout: 2
  delegate_to: outside-host
"""

RETURN = r"""
reachable:
  description: The ports that accepted a connection.
  type: list
  returned: always
tested:
  description: Every port tried.
  type: list
  returned: always
"""

import concurrent.futures
import socket

from ansible.module_utils.basic import AnsibleModule


def _open(host, port, timeout):
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError:
        return False
    return True


def main():
    module = AnsibleModule(
        argument_spec={"host": {"type": "str", "required": True},
                       "ports": {"type": "list", "elements": "int", "required": True},
                       "timeout": {"type": "float", "required": True}},
        supports_check_mode=True,
    )
    host, timeout = module.params["host"], module.params["timeout"]
    ports = sorted(set(module.params["ports"]))
    with concurrent.futures.ThreadPoolExecutor(max(1, min(32, len(ports)))) as pool:
        results = list(pool.map(lambda port: _open(host, port, timeout), ports))
    module.exit_json(changed=False, tested=ports,
                     reachable=[port for port, ok in zip(ports, results, strict=True) if ok])


if __name__ == "__main__":
    main()
