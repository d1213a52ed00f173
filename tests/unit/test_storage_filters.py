"""plugins/filter/kubemedic_net.py: CIDRs in the forms libwrap and nftables accept, and the
hosts.allow clean-up of `kubemedic recover hosts-allow`."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location(
    "kubemedic_net", Path(__file__).resolve().parents[2] / "plugins" / "filter" / "kubemedic_net.py")
net = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(net)

MARK = "kubemedic tcp_wrappers"
DAEMONS = ["rpcbind", "portmap", "mountd", "statd", "lockd", "rquotad"]


@pytest.mark.parametrize(("cidr", "pattern"), [
    ("192.168.100.0/24", "192.168.100.0/255.255.255.0"),
    ("192.168.100.1/32", "192.168.100.1"),
    ("10.0.0.0/8", "10.0.0.0/255.0.0.0"),
    ("2001:db8::/64", "[2001:db8::]/64"),
    ("::1/128", "[::1]"),
])
def test_tcpd_pattern(cidr: str, pattern: str) -> None:
    assert net.tcpd_pattern(cidr) == pattern


def test_cidr_version_splits_and_collapses_overlaps() -> None:
    values = ["192.168.236.0/24", "192.168.236.1/32", "10.0.0.5", "2001:db8::/64", ""]
    # nftables refuses overlapping interval elements: the /32 inside the /24 must go.
    assert net.cidr_version(values, 4) == ["10.0.0.5/32", "192.168.236.0/24"]
    assert net.cidr_version(values, 6) == ["2001:db8::/64"]


def test_cidr_host_and_membership() -> None:
    assert net.cidr_host("192.168.236.1/32") == "192.168.236.1"
    assert net.cidr_host("192.168.236.0/24") == "192.168.236.1"
    assert net.cidr_in("192.168.236.1", ["192.168.236.0/24"])
    assert not net.cidr_in("192.168.237.11", ["192.168.236.0/24", "192.168.236.1/32"])
    assert not net.cidr_in("192.168.236.1", ["2001:db8::/64"])


def test_bad_cidr_is_an_ansible_error() -> None:
    from ansible.errors import AnsibleFilterError

    with pytest.raises(AnsibleFilterError, match="not an address"):
        net.tcpd_pattern("300.1.1.1/24")


def test_tcpd_clean_removes_blocks_duplicates_and_competing_rules() -> None:
    text = "\n".join([
        "# operator comment",
        "sshd: 10.9.8.7",
        f"# BEGIN {MARK}",
        "rpcbind portmap: 192.168.100.0/255.255.255.0",
        f"# END {MARK}",
        "portmap lockd mountd: 192.168.100.0/255.255.255.0",
        "vsftpd: 192.0.2.0/255.255.255.0",
        "sshd: 10.9.8.7",
        f"# BEGIN {MARK}",
        "rpcbind: ALL",
        f"# END {MARK}",
        "  sshd:   10.9.8.7",
        "",
    ])
    result = net.tcpd_clean(text, DAEMONS, MARK)
    assert result["text"] == "# operator comment\nsshd: 10.9.8.7\nvsftpd: 192.0.2.0/255.255.255.0\n"
    assert result["removed"] == ["portmap lockd mountd: 192.168.100.0/255.255.255.0",
                                 "sshd: 10.9.8.7", "sshd:   10.9.8.7"]


def test_tcpd_clean_keeps_a_clean_file() -> None:
    text = "# comment\nsshd: 10.0.0.1\n"
    assert net.tcpd_clean(text, DAEMONS, MARK) == {"text": text, "removed": [], "neutralised": []}
    assert net.tcpd_clean("", DAEMONS, MARK) == {"text": "", "removed": [], "neutralised": []}


ALLOWED = ["192.168.236.0/24", "192.168.236.1/32", "127.0.0.0/8", "::1/128"]


def test_tcpd_clean_neutralises_rules_that_admit_more_than_the_cluster() -> None:
    """Issue 14 / seed 000 #6: someone "fixed" NFS with `ALL: ALL` in hosts.allow. libwrap takes
    the first match, so it wins over the managed block: it must be commented out (marked), not
    kept; rules for ALL daemons that stay inside the cluster are kept."""
    text = "\n".join([
        "# operator comment",
        "ALL: ALL",
        "ALL : 192.168.236.0/255.255.255.0, 127.0.0.1 [::1]",
        "ALL: 10.0.0.0/255.0.0.0",
        "ALL EXCEPT sshd: 192.168. EXCEPT 192.168.236.9",
        "ALL: .example.com",
        "ALL: ALL: deny",
        "sshd: ALL",
        "",
    ])
    result = net.tcpd_clean(text, DAEMONS, MARK, ALLOWED)
    mark = f"# {MARK} neutralised (admits more than the cluster): "
    assert result["text"] == "\n".join([
        "# operator comment",
        mark + "ALL: ALL",
        "ALL : 192.168.236.0/255.255.255.0, 127.0.0.1 [::1]",
        mark + "ALL: 10.0.0.0/255.0.0.0",
        mark + "ALL EXCEPT sshd: 192.168. EXCEPT 192.168.236.9",
        mark + "ALL: .example.com",
        "ALL: ALL: deny",
        "sshd: ALL",
    ]) + "\n"
    assert result["neutralised"] == ["ALL: ALL", "ALL: 10.0.0.0/255.0.0.0",
                                     "ALL EXCEPT sshd: 192.168. EXCEPT 192.168.236.9",
                                     "ALL: .example.com"]
    # a second run changes nothing (the neutralised lines are comments now)
    assert net.tcpd_clean(result["text"], DAEMONS, MARK, ALLOWED)["text"] == result["text"]
    # hosts.deny (no `allowed`): `ALL: ALL` there denies, it stays
    assert net.tcpd_clean("ALL: ALL\n", DAEMONS, MARK)["text"] == "ALL: ALL\n"


@pytest.mark.parametrize(("line", "wide"), [
    ("ALL: ALL", True),
    ("ALL: 192.168.236.7", False),
    ("ALL: 192.168.236.", False),
    ("ALL: 192.168.", True),
    ("ALL: localhost", False),
    ("ALL: node1", True),                 # a host name may resolve to anything
    ("ALL: 192.168.236.*", True),
    ("ALL: [2001:db8::]/64", True),
    ("ALL: [::1]", False),
    ("vsftpd: ALL", False),               # not a daemon kubemedic manages
])
def test_tcpd_admits_more(line: str, wide: bool) -> None:
    assert net.tcpd_admits_more(line, DAEMONS, ALLOWED) is wide


def _tcpdmatch(daemon: str, address: str, verdict: str) -> dict:
    return {"item": [daemon, address],
            "stdout": f"client:   address  {address}\nserver:   process  {daemon}\n"
                      f"access:   {verdict}\n"}


def test_tcpdmatch_wrong_names_every_wrong_verdict() -> None:
    results = [_tcpdmatch("rpcbind", "192.168.100.7", "granted"),
               _tcpdmatch("rpcbind", "192.0.2.1", "denied"),
               _tcpdmatch("mountd", "192.168.100.7", "denied"),      # should be granted
               _tcpdmatch("mountd", "192.0.2.1", "granted"),          # opened to everyone
               {"item": ["statd", "192.168.100.7"], "stdout": ""}]    # no answer at all
    assert net.tcpdmatch_wrong(results, "192.0.2.1") == [
        "mountd from 192.168.100.7 is not granted", "mountd from 192.0.2.1 is not denied",
        "statd from 192.168.100.7 is not granted"]
    assert net.tcpdmatch_wrong(results[:2], "192.0.2.1") == []


@pytest.mark.parametrize(("mounts", "automount", "expected"), [
    ([{"path": "/share"}], True,
     ["nfsvers=4.1,hard,noatime,_netdev,x-systemd.automount,x-systemd.mount-timeout=30"]),
    ([{"path": "/share"}], "false", ["nfsvers=4.1,hard,noatime,_netdev"]),
    ([{"path": "/a", "options": "ro,,_netdev"}, {"path": "/b", "options": ""}], True,
     ["ro,_netdev,x-systemd.automount,x-systemd.mount-timeout=30",
      "_netdev,x-systemd.automount,x-systemd.mount-timeout=30"]),
    ([{"path": "/a", "options": "x-systemd.automount,x-systemd.mount-timeout=30,soft"}], True,
     ["x-systemd.automount,x-systemd.mount-timeout=30,soft,_netdev"]),  # nothing twice
    ([], True, []),
])
def test_nfs_mount_options(mounts, automount, expected) -> None:
    assert net.nfs_mount_options(mounts, "nfsvers=4.1,hard,noatime", automount, 30) == expected


def test_san_entries() -> None:
    assert net.san_entries(["registry.lan", "192.168.100.10", "registry.lan", "node1",
                            "localhost", "127.0.0.1", "fd00::10", "192.168.100.10"]) == [
        "DNS:registry.lan", "IP:192.168.100.10", "DNS:node1", "DNS:localhost", "IP:127.0.0.1",
        "IP:fd00::10"]
