"""roles/common on real lab nodes: behaviour, not only files.

Shared-kernel limits (stated, not faked): the lab nodes share the dev-box kernel, so modules and
non-network sysctls are only written, and chronyd runs with -x (never steps the host clock).
"""

import pytest

testinfra_hosts = ["km-molcom-node1", "km-molcom-node2"]


def test_hostname_is_inventory_name(host):
    assert host.check_output("hostname") == host.backend.get_hostname()


def test_cluster_nodes_resolve_without_dns(host):
    for name in ("km-molcom-node1", "km-molcom-node2"):
        assert host.run(f"getent hosts {name}").stdout.split()[0].startswith("172.30.2.")
    assert host.file("/etc/hosts").content_string.count("BEGIN kubemedic cluster nodes") == 1


def test_chrony_runs_without_touching_the_shared_clock(host):
    assert host.service("chrony").is_running
    assert "-x" in host.check_output("ps -o args= -C chronyd")
    tracking = host.run("chronyc -n tracking")
    assert tracking.rc == 0, tracking.stderr


def test_master_serves_time_to_the_cluster(host):
    conf = host.file("/etc/chrony/conf.d/kubemedic.conf").content_string
    if host.backend.get_hostname() == "km-molcom-node1":
        assert "allow 172.30.2.0/24" in conf
    else:
        assert "allow" not in conf


def test_inotify_limits_at_least_the_minimums(host):
    assert int(host.sysctl("fs.inotify.max_user_instances")) >= 512
    assert int(host.sysctl("fs.inotify.max_user_watches")) >= 262144
    persisted = host.file("/etc/sysctl.d/90-kubemedic-inotify.conf").content_string
    assert "fs.inotify.max_user_instances" in persisted


def test_ip_forwarding_is_live_and_persisted(host):
    assert host.sysctl("net.ipv4.ip_forward") == 1
    assert "net.ipv4.ip_forward = 1" in host.file("/etc/sysctl.d/90-kubemedic-kubernetes.conf").content_string
    assert "br_netfilter" in host.file("/etc/modules-load.d/kubemedic.conf").content_string


def test_swap_stays_off(host):
    assert host.check_output("systemctl is-enabled swap.target || true") == "masked"


@pytest.mark.parametrize("package", ["chrony", "conntrack", "ethtool", "python3-apt", "socat"])
def test_base_packages(host, package):
    assert host.package(package).is_installed


def test_journald_limits_are_in_effect(host):
    # cat-config shows what journald actually reads, drop-ins included.
    assert "SystemMaxUse=1G" in host.check_output("systemd-analyze cat-config systemd/journald.conf")
    assert host.service("systemd-journald").is_running
