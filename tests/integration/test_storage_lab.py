"""NFS server, tcp-wrappers, NFS client mounts and the firewall on real lab nodes (issue 4).

One lab (km-sto: 3 cluster nodes on 192.168.236.0/24 + 1 outside node on 192.168.237.0/24) is
shared by the module; tests run in file order like an operator's session. node1 is the NFS
server, node2/node3 mount, outside1 is a host that must be refused. The lab routes between the
two networks without masquerading, so nodes see the outside node's own address.

Playbook runs are the cost here (CI budget): one short refused run on node1, ONE converge with
all four tags, a second full run (idempotence), a third on node2 only (three runs, one copy of
everything), one --check run, then the recovery steps and the firewall rollback on node2 only.
"Before the firewall" is reproduced by stopping the firewall's own boot unit (its ExecStop
removes the kubemedic table) and starting it again, which also proves the boot unit restores it.

Real here: apt, systemd, rpcbind and rpc.statd linked with libwrap (hosts.allow/hosts.deny
decide who gets an answer), nfs.conf.d fixed ports, exportfs parsing /etc/exports, tcpdmatch,
nftables in each node's network namespace, a real Redis server, ssh.
Not real: the lab's shared kernel has no nfsd and no NFS client module, so the kernel server is
not started (the inventory sets nfs_server_require_kernel_nfsd: false; the default refusal is
tested) and no NFS mount can succeed: the client side is checked through the fstab entry and the
units systemd-fstab-generator makes from it, and `recover nfs-remount` is checked to report the
missing mount and fail honestly. Where the host kernel has no autofs either (this machine's,
since 2026-12), nfs_client writes no systemd automount and the test checks that instead.

The last two tests drill nfs-reinstall and nfs-remount (issue 14) through TEST DOUBLES for the
kernel parts, all under tests/doubles/ and named in each test's docstring; apt, rpcbind,
rpc.mountd, rpc.statd, exportfs, /etc/fstab, systemd's units and the run record are real.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import time
from pathlib import Path

import pytest

from kubemedic.lab.lab import kernel_has_filesystem
from tests.integration import mttr

pytestmark = [pytest.mark.lab, pytest.mark.slow]

NAME = "km-sto"
SUBNET = "192.168.236.0/24"
SERVER, CLIENT, OTHER = "km-sto-node1", "km-sto-node2", "km-sto-node3"
SERVER_IP, CLIENT_IP = "192.168.236.11", "192.168.236.12"
OUTSIDE = "km-sto-outside1"
ALL_TAGS = "nfs-server,tcp-wrappers,nfs-client,firewall"
MARK = "kubemedic tcp_wrappers"
OPERATOR_ALLOW = "sshd: 10.9.8.7 # operator line"
DOUBLES = Path(__file__).resolve().parents[1] / "doubles"
NFSD_ERROR = "rpc.nfsd: writing fd to kernel failed: errno 111 (Connection refused)"


@pytest.fixture(scope="module")
def lab(lab_factory):
    lab = lab_factory(NAME, nodes=3, subnet=SUBNET, outside=1)
    if not kernel_has_filesystem("autofs"):
        # `lab up` declares no NFS mount on a kernel without autofs (lab.py): this module
        # is about the client's fstab, units and remount, so it declares the role's default.
        (lab.inventory / "group_vars" / "cluster.yml").write_text(
            "nfs_client_mounts:\n  - path: /share\n")
    return lab


def recap(result: subprocess.CompletedProcess) -> dict:
    return json.loads(result.stdout)["hosts"]


def changed(result: subprocess.CompletedProcess) -> int:
    return sum(h["changed"] for h in recap(result).values())


def bootstrap(lab, tags: str, *extra: str) -> subprocess.CompletedProcess:
    return lab.kubemedic("bootstrap", "-c", NAME, "--tags", tags, "--json", *extra)


def tcp_open(lab, node: str, ip: str, port: int) -> bool:
    probe = lab.ssh(node, f"timeout 8 python3 -c \"import socket; socket.create_connection("
                          f"('{ip}', {port}), timeout=5)\"")
    return probe.returncode == 0


def redis_ping(lab, node: str) -> str:
    probe = lab.ssh(node, "timeout 8 python3 -c \"import socket; s = socket.create_connection(("
                          f"'{CLIENT_IP}', 6379), timeout=5); s.sendall(b'PING\\r\\n'); "
                          "print(s.recv(64).decode().strip())\"")
    return probe.stdout.strip() if probe.returncode == 0 else f"refused ({probe.returncode})"


def _apt_install(packages: str) -> str:
    """apt-get that waits for the converge's apt on the same node (lists and dpkg locks)."""
    # a subshell, so that `exit` ends only the retry loop and commands chained after it run
    return ("(export DEBIAN_FRONTEND=noninteractive; for i in $(seq 40); do "
            "apt-get -q -o DPkg::Lock::Timeout=300 update >/dev/null 2>&1 && "
            "apt-get -y -q -o DPkg::Lock::Timeout=300 install --no-install-recommends "
            f"{packages} >/dev/null && exit 0; sleep 5; done; exit 1)")


@pytest.fixture(scope="module")
def helpers(lab):
    """Things that are not part of the roles: an rpcinfo client on the outside node, a Redis
    server on node2 listening on every address (the service the firewall must protect) and sshfs
    on node2 (the NFS mount double's transport, test_nfs_remount_drill...). Installed in the
    background while the first converge runs."""
    jobs = [
        subprocess.Popen(["ssh", "-F", str(lab.ssh_config), OUTSIDE,
                          _apt_install("rpcbind netbase")]),
        subprocess.Popen(["ssh", "-F", str(lab.ssh_config), CLIENT,
                          _apt_install("redis-server sshfs") + " && "
                          "sed -i 's/^bind .*/bind 0.0.0.0/; s/^protected-mode yes/"
                          "protected-mode no/' /etc/redis/redis.conf && "
                          "systemctl restart redis-server"]),
    ]
    yield jobs
    for job in jobs:
        job.kill()


def test_nfs_server_refuses_a_kernel_without_nfsd(lab) -> None:
    """The default (nfs_server_require_kernel_nfsd: true) stops before touching the node."""
    result = bootstrap(lab, "nfs-server", "--limit", SERVER,
                       "-e", "nfs_server_require_kernel_nfsd=true")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "has no nfsd" in result.stdout + result.stderr
    assert lab.ssh(SERVER, "test -e /etc/exports").returncode != 0, "installed despite the refusal"


def test_converge_all_four_roles(lab, helpers) -> None:
    lab.ssh(CLIENT, f"printf '%s\\n' '{OPERATOR_ALLOW}' >> /etc/hosts.allow", check=True)
    first = bootstrap(lab, ALL_TAGS)
    assert first.returncode == 0, first.stdout + first.stderr
    for job in helpers:
        assert job.wait(timeout=600) == 0, "test helper install failed"


def test_exports_and_fixed_ports(lab) -> None:
    """exportfs really parsed /etc/exports (etab written); statd really sits on its fixed port.
    mountd/nfsd cannot run without the kernel's nfsd: their fixed ports are checked in config."""
    exports = lab.ssh(SERVER, "cat /etc/exports", check=True).stdout
    assert "/share 192.168.236.0/24(rw,sync,no_subtree_check,no_root_squash)" in exports
    etab = lab.ssh(SERVER, "cat /var/lib/nfs/etab", check=True).stdout
    assert etab.startswith("/share\t192.168.236.0/24(rw,sync,")
    ports = lab.ssh(SERVER, "nfsconf --get mountd port; nfsconf --get statd port; "
                            "nfsconf --get lockd port; cat /etc/modprobe.d/kubemedic-lockd.conf",
                    check=True).stdout.split("\n")
    assert ports[:3] == ["20048", "32765", "32767"]
    assert "nlm_tcpport=32767 nlm_udpport=32767" in "\n".join(ports[3:])
    assert lab.ssh(SERVER, "systemctl is-active nfs-server").stdout.strip() != "active"


def host_has_autofs() -> bool:
    """The nodes share this machine's kernel: autofs there is autofs in every node."""
    return kernel_has_filesystem("autofs")


def test_fstab_and_automount_units(lab) -> None:
    """Mounting cannot be real here (no NFS in the shared kernel): check what survives a reboot,
    the fstab line and the units systemd-fstab-generator makes of it. A systemd automount needs
    autofs in the kernel: without it the role writes none (its unit could not start) and
    remote-fs.target wants the mount itself."""
    fstab = lab.ssh(CLIENT, "grep -E '\\s/share\\s' /etc/fstab", check=True).stdout.splitlines()
    assert len(fstab) == 1, fstab
    src, path, fstype, opts = fstab[0].split()[:4]
    assert (src, path, fstype) == (f"{SERVER_IP}:/share", "/share", "nfs")
    assert opts.split(",")[:3] == ["nfsvers=4.1", "hard", "noatime"]
    units = lab.ssh(CLIENT, "systemctl cat share.mount", check=True).stdout
    assert f"What={SERVER_IP}:/share" in units and "Type=nfs" in units
    if not host_has_autofs():
        assert "_netdev" in opts.split(",") and "x-systemd.automount" not in opts, opts
        assert "/run/systemd/generator/share.mount" in units
        assert "remote-fs.target" in lab.ssh(CLIENT, "systemctl show -p WantedBy -p RequiredBy "
                                                     "share.mount", check=True).stdout
        assert lab.ssh(CLIENT, "systemctl cat share.automount").returncode != 0
        return
    assert {"_netdev", "x-systemd.automount", "x-systemd.mount-timeout=30"} <= set(opts.split(","))
    units = lab.ssh(CLIENT, "systemctl cat share.automount", check=True).stdout
    assert "/run/systemd/generator/share.automount" in units
    assert "remote-fs.target" in lab.ssh(CLIENT, "systemctl show -p WantedBy -p RequiredBy "
                                                 "share.automount", check=True).stdout
    assert lab.ssh(CLIENT, "systemctl is-active share.automount").stdout.strip() == "active"


def test_firewall_admits_cluster_refuses_outside(lab) -> None:
    assert redis_ping(lab, OTHER) == "+PONG"
    assert redis_ping(lab, OUTSIDE).startswith("refused")
    assert not tcp_open(lab, OUTSIDE, CLIENT_IP, 22)
    assert not tcp_open(lab, OUTSIDE, SERVER_IP, 111)
    assert tcp_open(lab, OTHER, CLIENT_IP, 22)
    # the dev-box (this machine) still opens fresh ssh sessions
    assert lab.ssh(CLIENT, "true", check=True).returncode == 0
    assert "inactive" in lab.ssh(CLIENT, "systemctl is-active kubemedic-firewall-rollback.timer"
                                 ).stdout, "the rollback timer must be cancelled"
    assert lab.ssh(CLIENT, "systemctl is-active kubemedic-firewall").stdout.strip() == "active"
    assert lab.ssh(CLIENT, "systemctl is-enabled kubemedic-firewall", check=True
                   ).stdout.strip() == "enabled"


def test_without_the_firewall_tcp_wrappers_alone_refuse_outside(lab) -> None:
    """rpcbind is linked with libwrap: with the kubemedic table removed (the boot unit stopped),
    hosts.allow/hosts.deny alone decide: node2 gets the map, the outside node is refused although
    port 111 is open to it, and Redis is open to the outside again. Starting the boot unit
    closes it again."""
    assert "libwrap" in lab.ssh(SERVER, "ldd /sbin/rpcbind", check=True).stdout
    for node in (SERVER, CLIENT):
        lab.ssh(node, "systemctl stop kubemedic-firewall", check=True)
    try:
        assert lab.ssh(SERVER, "nft list tables").stdout.count("inet kubemedic") == 0
        inside = lab.ssh(CLIENT, f"rpcinfo -p {SERVER_IP}")
        assert inside.returncode == 0, inside.stdout + inside.stderr
        assert "portmapper" in inside.stdout
        assert any(line.split()[3:5] == ["32765", "status"]
                   for line in inside.stdout.splitlines() if len(line.split()) >= 5)
        assert tcp_open(lab, OUTSIDE, SERVER_IP, 111), "port 111 should be open (no firewall)"
        outside = lab.ssh(OUTSIDE, f"rpcinfo -p {SERVER_IP}")
        assert outside.returncode != 0 and "portmapper" not in outside.stdout, outside.stdout
        assert redis_ping(lab, OUTSIDE) == "+PONG", "Redis should be open without the firewall"
    finally:
        for node in (SERVER, CLIENT):
            lab.ssh(node, "systemctl start kubemedic-firewall", check=True)
    assert redis_ping(lab, OUTSIDE).startswith("refused")
    assert not tcp_open(lab, OUTSIDE, SERVER_IP, 111)


def _copies(lab, node: str) -> dict[str, int]:
    out = lab.ssh(node, f"grep -c '^# BEGIN {MARK}$' /etc/hosts.allow; "
                        f"grep -c '^# BEGIN {MARK}$' /etc/hosts.deny; "
                        "grep -c '^rpcbind portmap mountd' /etc/hosts.allow; "
                        "nft list tables | grep -c 'inet kubemedic'; "
                        "nft list chain inet kubemedic input | grep -c 'counter .*drop'; "
                        "grep -cE '\\s/share\\s' /etc/fstab; "
                        f"grep -cxF '{OPERATOR_ALLOW}' /etc/hosts.allow").stdout.split()
    keys = ["allow_blocks", "deny_blocks", "allow_rules", "tables", "drop_rules", "fstab",
            "operator"]
    return dict(zip(keys, map(int, out), strict=True))


def test_second_and_third_runs_change_nothing_and_copy_nothing(lab) -> None:
    second = bootstrap(lab, ALL_TAGS)
    assert second.returncode == 0, second.stdout + second.stderr
    assert changed(second) == 0, recap(second)
    third = bootstrap(lab, ALL_TAGS, "--limit", CLIENT)
    assert third.returncode == 0 and changed(third) == 0, recap(third)
    assert _copies(lab, CLIENT) == {"allow_blocks": 1, "deny_blocks": 1, "allow_rules": 1,
                                    "tables": 1, "drop_rules": 1, "fstab": 1, "operator": 1}


def test_check_mode_on_converged_nodes_changes_nothing(lab) -> None:
    before = lab.ssh(CLIENT, "md5sum /etc/hosts.allow /etc/hosts.deny /etc/fstab "
                             "/etc/kubemedic/firewall.nft", check=True).stdout
    check = bootstrap(lab, ALL_TAGS, "--check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert changed(check) == 0, recap(check)
    assert lab.ssh(CLIENT, "md5sum /etc/hosts.allow /etc/hosts.deny /etc/fstab "
                           "/etc/kubemedic/firewall.nft", check=True).stdout == before


def test_recover_hosts_allow_removes_duplicates_keeps_operator_lines(lab) -> None:
    """Seed 000 #6: hand-written, duplicated rules. The step backs up, cleans, rewrites."""
    lab.ssh(CLIENT, "printf '%s\\n' 'portmap lockd mountd rquotad statd: 192.168.100.0/24' "
                    f"'{OPERATOR_ALLOW}' 'rpcbind: ALL' >> /etc/hosts.allow", check=True)
    result = lab.kubemedic("recover", "hosts-allow", "-c", NAME, "--limit", CLIENT, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    allow = lab.ssh(CLIENT, "cat /etc/hosts.allow", check=True).stdout
    assert "rpcbind: ALL" not in allow and "192.168.100.0/24" not in allow
    counts = _copies(lab, CLIENT)
    assert counts["allow_blocks"] == 1 and counts["allow_rules"] == 1 and counts["operator"] == 1
    verdict = lab.ssh(CLIENT, "tcpdmatch rpcbind 192.168.237.11; tcpdmatch rpcbind 192.168.236.13",
                      check=True).stdout
    assert verdict.count("access:   denied") == 1 and verdict.count("access:   granted") == 1


def test_recover_nfs_remount_reports_what_is_missing(lab) -> None:
    """No NFS client module in the lab kernel: the remount must fail and say which mount."""
    result = lab.kubemedic("recover", "nfs-remount", "-c", NAME, "--limit", CLIENT)
    out = result.stdout + result.stderr
    assert result.returncode == 3, out
    assert "missing before remount" in out and '["/share"]' in out
    assert "still not mounted after remount" in out


def test_firewall_rolls_back_rules_that_refuse_a_fresh_connection(lab) -> None:
    """The proof after applying fails (the rules protect ssh on 2222, where nothing listens, so
    the fresh connection from the dev-box cannot be made): the previous live table comes back at
    once, the timer is cancelled, and the file the boot unit loads holds the previous rules."""
    live = "nft list table inet kubemedic | grep comment"
    before = lab.ssh(CLIENT, f"{live}; md5sum /etc/kubemedic/firewall.nft", check=True).stdout
    # named-ports mode: its rules name the ssh port (default deny admits the dev-box whole).
    result = bootstrap(lab, "firewall", "--limit", CLIENT, "-e", "firewall_ssh_port=2222",
                       "-e", "firewall_mode=named-ports", "-e", "firewall_reconnect_timeout=3")
    out = result.stdout + result.stderr
    assert result.returncode == 3, out
    assert "refused a fresh ssh connection" in out
    assert lab.ssh(CLIENT, f"{live}; md5sum /etc/kubemedic/firewall.nft", check=True
                   ).stdout == before
    assert "2222" in lab.ssh(CLIENT, "cat /etc/kubemedic/firewall.nft.rejected", check=True).stdout
    assert "inactive" in lab.ssh(CLIENT, "systemctl is-active kubemedic-firewall-rollback.timer"
                                 ).stdout
    assert redis_ping(lab, OUTSIDE).startswith("refused")
    assert redis_ping(lab, OTHER) == "+PONG"


def doctor_findings(lab, node: str) -> list[dict]:
    result = lab.kubemedic("doctor", "-c", NAME, "--limit", node, "--json")
    assert result.returncode in (0, 5), result.stdout[-3000:] + result.stderr[-2000:]
    return [f for f in json.loads(result.stdout)["findings"] if f["host"] == node]


def run_printed(lab, command: str) -> dict:
    """Run the command doctor printed, as an operator pastes it (plus --yes --json)."""
    argv = shlex.split(command)
    assert argv[0] == "kubemedic", command
    result = lab.kubemedic(*argv[1:], "--yes", "--json")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return json.loads(result.stdout)


def copy_to(lab, node: str, source: Path, target: str) -> None:
    subprocess.run(["scp", "-q", "-F", str(lab.ssh_config), str(source), f"{node}:{target}"],
                   check=True, capture_output=True, timeout=60)


def test_nfs_reinstall_drill_rpcbind_half_removed(lab) -> None:
    """Drill nfs-reinstall (seed 000 #6) on the NFS server: rpcbind half removed (its program
    deleted, stopped), the NFS server started again as at the next boot: `rpc.nfsd: writing fd
    to kernel failed: errno 111 (Connection refused)` in nfs-server's journal. Doctor names
    `kubemedic recover nfs-reinstall` as the root cause; that command reinstalls the packages
    (real apt, the lab's Debian mirror), restarts rpcbind before statd and the NFS server, and
    the export, its file and the configuration (backed up into the run record) survive.

    TEST DOUBLES (the shared kernel has no nfsd), installed on node1 by
    tests/doubles/install-nfsd-double: rpc.nfsd is tests/doubles/fake-rpc-nfsd (diverted with
    dpkg-divert, so the reinstall keeps it: it fails with the seed's errno 111 when rpcbind does
    not answer, else listens on 2049 and registers NFS v3/v4 with the real rpcbind);
    nfs-server.service and nfs-mountd.service are the package's units without the nfsd file
    system mount; the host_vars point nfs_server_kernel_filesystems at a copy of
    /proc/filesystems listing nfsd. Real: rpcbind, rpc.mountd and rpc.statd registering on their
    fixed ports, exportfs, apt, systemd, the run record."""
    lab.ssh(SERVER, "mkdir -p /root/kubemedic-test", check=True)
    for double in ("fake-rpc-nfsd", "install-nfsd-double"):
        copy_to(lab, SERVER, DOUBLES / double, f"/root/kubemedic-test/{double}")
    lab.ssh(SERVER, "sh /root/kubemedic-test/install-nfsd-double "
                    "/root/kubemedic-test/fake-rpc-nfsd", check=True)
    (lab.inventory / "host_vars").mkdir(exist_ok=True)
    (lab.inventory / "host_vars" / f"{SERVER}.yml").write_text(
        "# TEST DOUBLE: the nfsd line of tests/doubles/install-nfsd-double\n"
        "nfs_server_kernel_filesystems: /run/fake-nfsd/filesystems\n")
    converge = bootstrap(lab, "nfs-server", "--limit", SERVER)
    assert converge.returncode == 0, converge.stdout[-3000:] + converge.stderr[-2000:]
    registered = lab.ssh(SERVER, "rpcinfo -p 127.0.0.1", check=True).stdout
    assert " 2049  nfs" in registered and " 20048  mountd" in registered, registered
    exports = lab.ssh(SERVER, "cat /etc/exports", check=True).stdout
    lab.ssh(SERVER, "echo precious > /share/keep.txt", check=True)

    started = time.monotonic()
    fault = lab.kubemedic("lab", "drill", "-c", NAME, "nfs-rpcbind-broken", "--limit", SERVER,
                          "--json")
    assert fault.returncode == 0, fault.stdout[-3000:] + fault.stderr[-2000:]
    journal = lab.ssh(SERVER, "journalctl -u nfs-server -n 20 --no-pager -o cat").stdout
    assert NFSD_ERROR in journal, journal
    before = doctor_findings(lab, SERVER)
    found = [f for f in before if f["check"] == "log:nfsd-writing-fd"]
    assert [(f["severity"], f["step"], f["caused_by"]) for f in found] == [
        ("critical", "nfs-reinstall", None)], before
    assert found[0]["command"] == f"kubemedic recover nfs-reinstall -c {NAME} --limit {SERVER}"
    info = run_printed(lab, found[0]["command"])
    assert info["hosts"][SERVER]["changed"] >= 1, info

    backups = Path(info["record"]) / "backups" / SERVER / "etc"
    assert (backups / "exports").read_text() == exports
    assert (backups / "hosts.allow").is_file() and (backups / "nfs.conf.d" / "kubemedic.conf").is_file()
    assert lab.ssh(SERVER, "test -x /sbin/rpcbind && dpkg --verify rpcbind",
                   check=True).stdout == "", "rpcbind's files are not whole again"
    assert lab.ssh(SERVER, "systemctl is-active rpcbind.socket rpcbind nfs-server "
                           "rpc-statd").returncode == 0
    registered = lab.ssh(SERVER, "rpcinfo -p 127.0.0.1", check=True).stdout
    for port, service in (("2049", "nfs"), ("20048", "mountd"), ("32765", "status")):
        assert f" {port}  {service}" in registered, registered
    assert lab.ssh(SERVER, "cat /etc/exports", check=True).stdout == exports
    assert lab.ssh(SERVER, "cat /share/keep.txt", check=True).stdout == "precious\n"
    assert "started" in lab.ssh(SERVER, "tail -n 1 /var/lib/fake-nfsd/calls.log").stdout
    after = doctor_findings(lab, SERVER)
    print(f"\ndrill nfs-reinstall {time.monotonic() - started:6.1f} s injection -> clean")
    assert not [f for f in after if f["step"] == "nfs-reinstall"], after
    mttr.record("nfs-reinstall", SERVER, ["nfs-rpcbind-broken"], started)


def test_nfs_remount_drill_mount_lost_after_the_server_rebooted(lab) -> None:
    """Drill nfs-remount (seed 000: worker mounts lost after the master rebooted) on node2, after
    the server's repair above: its NFS mount of /share is gone (the .mount unit stopped, and
    the automount where the kernel has autofs). Doctor names `kubemedic recover nfs-remount`;
    that command mounts it again through the .mount unit systemd-fstab-generator made from
    /etc/fstab; the file on the export is read through the mount and a file written there
    lands on the server.

    TEST DOUBLE (the shared kernel has no NFS client): mount.nfs is tests/doubles/fake-mount-nfs
    (dpkg-divert): it connects to the server's port 2049 as the kernel client does (the nfsd
    double answers there) and mounts the export with sshfs, source `<server>:/share` as an NFS
    mount's (its type shows as fuse.sshfs; the step goes by target and source); its ssh key is
    the lab's. Real: fstab, systemd's mount unit, mount(8), the firewall, the data on node1."""
    lab.ssh(CLIENT, "mkdir -p /etc/kubemedic-test /root/kubemedic-test", check=True)
    copy_to(lab, CLIENT, lab.key, "/etc/kubemedic-test/nfs-double.key")
    copy_to(lab, CLIENT, DOUBLES / "fake-mount-nfs", "/root/kubemedic-test/fake-mount-nfs")
    lab.ssh(CLIENT, "set -e; chmod 0600 /etc/kubemedic-test/nfs-double.key; "
                    "dpkg-divert --list /sbin/mount.nfs | grep -q . || dpkg-divert --local "
                    "--rename --divert /sbin/mount.nfs.distrib --add /sbin/mount.nfs; "
                    "install -m 0755 /root/kubemedic-test/fake-mount-nfs /sbin/mount.nfs; "
                    "systemctl reset-failed share.mount || true; systemctl start share.mount",
            check=True)
    assert lab.ssh(CLIENT, "cat /share/keep.txt", check=True).stdout == "precious\n"

    started = time.monotonic()
    fault = lab.kubemedic("lab", "drill", "-c", NAME, "nfs-mount-lost", "--limit", CLIENT,
                          "--json")
    assert fault.returncode == 0, fault.stdout[-3000:] + fault.stderr[-2000:]
    assert lab.ssh(CLIENT, "findmnt /share").returncode != 0
    before = doctor_findings(lab, CLIENT)
    found = [f for f in before if f["check"] == "nfs-mount"]
    assert [(f["severity"], f["step"], f["caused_by"]) for f in found] == [
        ("critical", "nfs-remount", None)], before
    assert found[0]["command"] == f"kubemedic recover nfs-remount -c {NAME} --limit {CLIENT}"
    info = run_printed(lab, found[0]["command"])
    assert info["hosts"][CLIENT]["changed"] >= 1, info
    mounted = lab.ssh(CLIENT, "findmnt --noheadings --raw --output SOURCE /share",
                      check=True).stdout.split()
    assert f"{SERVER_IP}:/share" in mounted, mounted
    assert lab.ssh(CLIENT, "cat /share/keep.txt", check=True).stdout == "precious\n"
    lab.ssh(CLIENT, "echo from-node2 > /share/from-node2.txt", check=True)
    assert lab.ssh(SERVER, "cat /share/from-node2.txt", check=True).stdout == "from-node2\n"
    after = doctor_findings(lab, CLIENT)
    print(f"\ndrill nfs-remount {time.monotonic() - started:6.1f} s injection -> clean")
    assert not [f for f in after if f["check"] == "nfs-mount"], after
    mttr.record("nfs-remount", CLIENT, ["nfs-mount-lost"], started)
    # Nothing missing: a second run mounts nothing.
    again = run_printed(lab, found[0]["command"])
    assert again["hosts"][CLIENT]["changed"] == 0, again
    lab.ssh(CLIENT, "umount /share", check=True)  # the FUSE mount goes before the lab does
