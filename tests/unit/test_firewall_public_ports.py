"""cli/kubemedic/firewall.py and its filter: `cluster_public_ports` parsed, refused with the entry
and key named, and turned into nftables rules for the input and the DNAT (forward) path."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from kubemedic import firewall
from kubemedic.inventory import schema

SPEC = importlib.util.spec_from_file_location(
    "kubemedic_firewall",
    Path(__file__).resolve().parents[2] / "plugins" / "filter" / "kubemedic_firewall.py")
FILTER = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(FILTER)

PORTS = [{"port": 6443, "from": ["10.20.0.0/16", "2001:db8::/32"], "name": "kube-apiserver"},
         {"port": "30000-32767", "proto": "both"},
         {"port": 443, "name": "ingress"}]


def test_input_rules_admit_each_port_from_its_sources() -> None:
    assert firewall.rules(PORTS, "input") == [
        'ip saddr { 10.20.0.0/16 } tcp dport 6443 accept comment "public: kube-apiserver"',
        'ip6 saddr { 2001:db8::/32 } tcp dport 6443 accept comment "public: kube-apiserver"',
        'tcp dport 30000-32767 accept comment "public: port 30000-32767"',
        'udp dport 30000-32767 accept comment "public: port 30000-32767"',
        'tcp dport 443 accept comment "public: ingress"',
    ]


def test_forward_rules_match_the_port_asked_before_dnat() -> None:
    rules = firewall.rules([{"port": 8080}], "forward")
    assert rules == ['meta l4proto tcp ct original proto-dst 8080 accept comment "public: port 8080"']


def test_ports_per_protocol_for_the_sets_doctor_reads() -> None:
    assert firewall.ports(PORTS, "tcp") == ["443", "6443", "30000-32767"]
    assert firewall.ports(PORTS, "udp") == ["30000-32767"]
    assert firewall.port_in(31000, ["443", "30000-32767"])
    assert not firewall.port_in(8080, ["443", "30000-32767"])


@pytest.mark.parametrize(("value", "expected"), [
    ("6443", "is not a list"),
    ([6443], "entry 1 (6443) is not a mapping"),
    ([{"port": 0}], "entry 1: port 0 is not within 1-65535"),
    ([{"port": "3-1"}], "entry 1: port range '3-1' is not low-high"),
    ([{"port": "http"}], "entry 1: port 'http' is not a port"),
    ([{"port": True}], "entry 1: port True is not a port"),
    ([{"port": 80}, {"port": 22, "proto": "sctp"}], "entry 2: proto 'sctp'"),
    ([{"port": 80, "from": "10.0.0.0/8"}], "entry 1: from '10.0.0.0/8' is not a non-empty list"),
    ([{"port": 80, "from": []}], "entry 1: from [] is not a non-empty list"),
    ([{"port": 80, "from": ["10.0.0.1/8"]}], "entry 1: from '10.0.0.1/8' is not a network"),
    ([{"port": 80, "source": ["10.0.0.0/8"]}], "entry 1: unknown key 'source'"),
    ([{"proto": "tcp"}], "entry 1: no port"),
    ([{"port": 80, "name": 'a"; drop'}], "entry 1: name"),
])
def test_bad_entries_are_named(value, expected) -> None:
    found = "; ".join(firewall.problems(value))
    assert expected in found, found
    with pytest.raises(ValueError, match=r"entry|list"):
        firewall.rules(value, "input")
    error = next(f for f in schema.CLUSTER_FIELDS if f.name == "cluster_public_ports").check(value)
    assert error and expected in error


def test_valid_entries_pass_the_schema() -> None:
    check = next(f for f in schema.CLUSTER_FIELDS if f.name == "cluster_public_ports").check
    assert check(PORTS) is None and check([]) is None
    mode = next(f for f in schema.CLUSTER_FIELDS if f.name == "cluster_firewall_mode").check
    assert mode("default-deny") is None and mode("named-ports") is None
    assert "is not one of" in mode("open")


def test_filter_names_the_variable_on_bad_input() -> None:
    from ansible.errors import AnsibleFilterError

    assert FILTER.kubemedic_firewall_rules(PORTS, "forward")[0].startswith("ip saddr")
    with pytest.raises(AnsibleFilterError, match="firewall_public_ports: entry 1: no port"):
        FILTER.kubemedic_firewall_rules([{"proto": "tcp"}], "input")
