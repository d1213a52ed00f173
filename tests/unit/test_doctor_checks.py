"""Doctor state checks: each fault in a node probe gives the right check, severity and recovery
step (the exact step names other areas implement); a healthy probe gives no finding; the CLI's
JSON contract and exit codes (0 / 5 / run failure first) hold."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from kubemedic.commands import doctor as doctor_cmd
from kubemedic.doctor import checks
from tests.unit.doctor_settings import role_settings

HEALTHY: dict[str, Any] = {
    "disks": {"/": {"exists": True, "used_pct": 40.0, "inode_used_pct": 10.0, "device": 1},
              "/var/lib/docker": {"exists": True, "used_pct": 40.0, "inode_used_pct": 10.0,
                                  "device": 1},
              "/data": {"exists": True, "used_pct": 20.0, "inode_used_pct": 1.0, "device": 2}},
    "swap": [], "fstab_swap": [],
    "sysctl_persisted": {"values": {"fs.inotify.max_user_instances": "512",
                                    "fs.inotify.max_user_watches": "524288"},
                         "where": {"fs.inotify.max_user_instances": "/etc/sysctl.d/k.conf:1",
                                   "fs.inotify.max_user_watches": "/etc/sysctl.d/k.conf:2"}},
    "ntp": {"known": True, "synchronized": True, "ntp_service": True},
    "services": {name: {"installed": True, "active": True, "state": "active running"}
                 for name in ("docker", "containerd", "kubelet")},
    "versions": {"docker.io": "20.10.24+dfsg1-1+b3", "containerd": "1.6.20~ds1-1+b1",
                 "kubelet": "1.28.2-1.1", "containerd-binary": "1.6.20"},
    "docker": {"daemon_json": {}, "daemon_json_error": None, "default_runtime": "runc",
               "runtimes": [], "images": ["192.168.100.10:5000/pause:3.9",
                                          "registry.k8s.io/kube-apiserver:v1.28.2"]},
    "fstab_nfs": [{"source": "10.0.0.1:/share", "target": "/share", "fstype": "nfs4",
                   "noauto": False, "mounted": True, "line": "10.0.0.1:/share /share nfs4"}],
    "tcp_wrappers": {"hosts.allow": [(1, "portmap lockd mountd rquotad statd: 192.168.100.0/24")],
                     "hosts.deny": [(1, "portmap lockd mountd rquotad statd: ALL")]},
    "inotify": {"max_user_instances": 512, "max_user_watches": 524288},
    "kernel": {"release": "5.15.0-99-generic", "loaded": [],
               "accelerator_modules": {"nvidia": ["nvidia"], "ascend": ["drv_devdrv"]},
               "devdrv_class": True, "devdrv_class_path": "/sys/class/devdrv-class"},
    "processes": {"npu_collector": [4242]},
    "nics": {"enp189s0f0": {"exists": True, "operstate": "up", "carrier": "1",
                            "autoneg": True, "speed": "1000Mb/s", "link": True}},
    "apt_sources": [{"file": "/etc/apt/sources.list.d/docker.list", "line_no": 1,
                     "line": "deb [signed-by=/k.gpg] https://x bookworm stable", "problem": None}],
    "big_logs": [],
    "kubeadm": {"ca_sha256": "c" * 64, "apiserver_advertise": None,
                "kubelet_server": "https://192.168.100.10:6443", "addresses": ["192.168.100.11"]},
    "logs": {"journal": 'level=info msg="API listen on /run/docker.sock"', "kernel": "",
             "container": ""},
}
# What the doctor role passes (its defaults, rendered), for this test's cluster.
SETTINGS = role_settings(customer="acme", groups=["workers"], cluster_subnet="192.168.100.0/24",
                         expected_versions={"docker.io": "20.10.24", "kubelet": "1.28.2"},
                         node_name="")  # "" = the host evaluated (tests evaluate several hosts)


def run(mutate=None, **settings) -> list[dict[str, Any]]:
    probe = copy.deepcopy(HEALTHY)
    if mutate:
        mutate(probe)
    return checks.evaluate("node1", probe, {**SETTINGS, **settings})


def pairs(findings) -> set[tuple[str, str, str | None]]:
    return {(f["check"], f["severity"], f["step"]) for f in findings}


def test_healthy_node_has_no_finding() -> None:
    assert run() == []
    assert run(_set("docker|default_runtime", "ascend"), accelerator="ascend",
               groups=["npu"]) == []
    assert pairs(run(accelerator="ascend", groups=["npu"])) == {
        ("ascend-default-runtime", "critical", "ascend-runtime")}


def test_a_containerd_node_is_judged_by_containerd_s_images() -> None:
    """kubelet on containerd: the pause and kubeadm images are containerd's (k8s.io namespace),
    not docker's, which runs there too and lists none (on the real containerd cluster doctor
    reported pause-image, critical, on every healthy node)."""
    cri = ["10.0.0.1:5000/pause:3.2", "10.0.0.1:5000/kube-apiserver:v1.28.2",
           "10.0.0.1:5000/kube-controller-manager:v1.28.2",
           "10.0.0.1:5000/kube-scheduler:v1.28.2"]
    on_containerd = _all(_set("docker|images", []), lambda probe: probe.update(
        containerd_images=cri))
    master = {"container_runtime": "containerd", "groups": ["masters"],
              "kubeadm_images": ["kube-apiserver:v1.28.2", "kube-controller-manager:v1.28.2",
                                 "kube-scheduler:v1.28.2"]}
    assert run(on_containerd, **master) == []
    without_pause = _all(on_containerd, lambda probe: probe["containerd_images"].remove(cri[0]))
    found = {f["check"]: f for f in run(without_pause, **master)}
    assert set(found) == {"pause-image"}, found
    assert "containerd's k8s.io namespace" in found["pause-image"]["evidence"]
    # containerd down: no image verdict (the service check reports it)
    assert "pause-image" not in {f["check"] for f in run(
        _all(on_containerd, lambda probe: probe.update(containerd_images=None)),
        container_runtime="containerd")}
    # docker's images still judge a docker node
    assert ("pause-image", "critical", "pause-image") in pairs(run(on_containerd))


def _set(path: str, value: Any):
    def mutate(probe: dict[str, Any]) -> None:
        keys = path.split("|")
        target = probe
        for key in keys[:-1]:
            target = target[int(key) if isinstance(target, list) else key]
        target[int(keys[-1]) if isinstance(target, list) else keys[-1]] = value
    return mutate


def _all(*mutations):
    def mutate(probe: dict[str, Any]) -> None:
        for mutation in mutations:
            mutation(probe)
    return mutate


@pytest.mark.parametrize(("mutate", "settings", "expected"), [
    (_set("disks|/|used_pct", 96.0), {}, ("disk-usage", "critical", "disk-cleanup")),
    (_set("disks|/data|used_pct", 88.0), {}, ("disk-usage", "warning", "disk-cleanup")),
    (_set("disks|/|inode_used_pct", 99.0), {}, ("inodes-usage", "critical", "disk-cleanup")),
    (_set("swap", ["/swapfile"]), {}, ("swap", "critical", "after-reboot")),
    (_set("fstab_swap", ["/swapfile none swap sw 0 0"]), {},
     ("swap-fstab", "warning", None)),
    (_set("ntp|synchronized", False), {}, ("ntp", "warning", None)),
    (_set("services|kubelet", {"installed": True, "active": False, "state": "inactive dead"}),
     {}, ("kubelet-active", "critical", "after-reboot")),
    (_set("services|docker", {"installed": True, "active": False, "state": "failed failed"}),
     {}, ("docker-active", "critical", None)),
    (_set("versions|docker.io", "24.0.5-1"), {}, ("version-drift", "warning", "docker-reinstall")),
    (_set("versions|containerd-binary", "1.2.2"), {},
     ("containerd-version", "critical", "containerd-upgrade")),
    (_set("docker|daemon_json_error", "Expecting ',' delimiter: line 3"), {},
     ("docker-daemon-json", "critical", "daemon-json")),
    (None, {"accelerator": "nvidia", "groups": ["gpu"]},
     ("nvidia-default-runtime", "critical", None)),
    (_set("docker|images", ["busybox:latest"]), {}, ("pause-image", "critical", "pause-image")),
    (_set("big_logs", [{"path": "/var/lib/docker/containers/a/a-json.log", "bytes": 9 << 30}]),
     {}, ("container-log-size", "warning", "disk-cleanup")),
    (_set("fstab_nfs|0|mounted", False), {}, ("nfs-mount", "critical", "nfs-remount")),
    (_set("tcp_wrappers|hosts.allow", [(1, "portmap: 192.168.100.0/24"),
                                       (2, "portmap:  192.168.100.0/24")]), {},
     ("hosts-allow-duplicate", "warning", "hosts-allow")),
    (_set("tcp_wrappers|hosts.allow", [(1, "portmap: 10.1.")]), {},
     ("hosts-allow-subnet", "critical", "hosts-allow")),
    (_set("inotify|max_user_instances", 128), {}, ("inotify-limits", "warning", "inotify-limits")),
    (_all(_set("kernel|accelerator_modules|nvidia", []), _set("docker|default_runtime", "nvidia")),
     {"accelerator": "nvidia", "groups": ["gpu"]},
     ("accelerator-modules", "critical", "kernel-driver")),
    (_all(_set("kernel|devdrv_class", False), _set("docker|default_runtime", "ascend")),
     {"accelerator": "ascend", "groups": ["npu"]},
     ("npu-devdrv-class", "critical", "kernel-driver")),
    (_all(_set("processes|npu_collector", []), _set("docker|default_runtime", "ascend")),
     {"accelerator": "ascend", "groups": ["npu"]},
     ("npu-collector", "warning", "npu-collector")),
    (_set("nics|enp189s0f0|operstate", "down"), {}, ("nic-link", "critical", "nic-autoneg")),
    (_set("nics|enp189s0f0|autoneg", False), {}, ("nic-autoneg", "warning", "nic-autoneg")),
    (_set("apt_sources|0|problem", "signed-by key /k.gpg is missing or empty"), {},
     ("apt-sources", "warning", "apt-sources-fix")),
    (_set("logs|kernel", "[ 99.1] NVRM: Xid (PCI:0000:3b:00): 79, pid=0, GPU has fallen off"),
     {}, ("log:nvidia-xid-79", "critical", None)),
    (_set("logs|journal", "kubelet[7]: failed to run Kubelet: running with swap on is not "
                          "supported, please disable swap!"), {},
     ("log:kubelet-swap-on", "critical", "after-reboot")),
    (_set("logs|container", 'Liveness probe failed: Get "http://10.42.2.44:80/": context '
                            'deadline exceeded (Client.Timeout exceeded while awaiting headers)'),
     {}, ("log:liveness-probe-timeout", "warning", "probe-timeout")),
])
def test_each_fault_names_its_step(mutate, settings, expected) -> None:
    found = run(mutate, **settings)
    assert expected in pairs(found), found
    # and nothing else: one fault, one finding
    assert len(found) == 1, found


def test_repair_command_is_exact() -> None:
    finding = run(_set("fstab_nfs|0|mounted", False))[0]
    assert finding["command"] == "kubemedic recover nfs-remount -c acme --limit node1"
    assert set(finding) == {"host", "check", "severity", "evidence", "message", "step", "command",
                            "caused_by", "explains", "subject"}
    assert finding["caused_by"] is None and finding["explains"] == [] and finding["subject"] is None
    assert finding["evidence"] == "10.0.0.1:/share /share nfs4"


def test_stepless_findings_carry_the_documented_fix() -> None:
    finding = run(None, accelerator="nvidia", groups=["gpu"])[0]
    assert finding["command"] == "kubemedic bootstrap -c acme --tags nvidia-runtime --limit node1"
    finding = run(_set("services|docker", {"installed": True, "active": False, "state": "x"}))[0]
    assert finding["command"] == (
        "kubemedic bootstrap -c acme --tags container-runtime --limit node1")


def test_shared_kernel_judges_persisted_sysctls_not_the_hosts() -> None:
    def lowered(probe):
        probe["inotify"]["max_user_instances"] = 128  # the host's value: not the node's fault
    assert run(lowered, shared_kernel=True) == []

    def persisted_low(probe):
        probe["sysctl_persisted"]["values"]["fs.inotify.max_user_watches"] = "8192"
    found = run(persisted_low, shared_kernel=True)
    assert pairs(found) == {("inotify-limits", "warning", "inotify-limits")}
    assert "/etc/sysctl.d/k.conf:2" in found[0]["evidence"]


def test_live_swap_on_shared_kernel_is_information_only() -> None:
    assert pairs(run(_set("swap", ["/host/swap"]), shared_kernel=True)) == {
        ("swap", "info", None)}


def test_uninstalled_components_are_information_not_critical() -> None:
    found = run(_set("services|kubelet", {"installed": False, "active": False,
                                          "state": "inactive dead"}))
    assert pairs(found) == {("kubelet-installed", "info", None)}


def test_kubeadm_images_only_on_masters_running_kubelet() -> None:
    found = run(None, kubeadm_images=["kube-apiserver:v1.28.2", "kube-scheduler:v1.28.2"])
    assert [(f["check"], f["evidence"]) for f in found] == [
        ("kubeadm-images", "kube-scheduler:v1.28.2")]


def test_same_filesystem_reported_once() -> None:
    def full(probe):
        probe["disks"]["/"]["used_pct"] = 97.0
        probe["disks"]["/var/lib/docker"]["used_pct"] = 97.0
    assert len(run(full)) == 1


def test_findings_sorted_most_severe_first() -> None:
    def many(probe):
        probe["ntp"]["synchronized"] = False
        probe["fstab_nfs"][0]["mounted"] = False
    assert [f["severity"] for f in run(many)] == ["critical", "warning"]


# --- CLI side: collecting the record, exit codes -------------------------------------------

def test_collect_reads_the_findings_of_every_host(tmp_path) -> None:
    folder = tmp_path / "findings"
    folder.mkdir()
    for host in ("b", "a"):
        (folder / f"{host}.json").write_text(json.dumps({
            "host": host, "probe_seconds": 0.5,
            "findings": run(_set("fstab_nfs|0|mounted", False))}))
    findings, timings = doctor_cmd.collect(tmp_path)
    assert len(findings) == 2 and timings == {"a": 0.5, "b": 0.5}
    assert doctor_cmd.collect(tmp_path / "nothing") == ([], {})


@pytest.mark.parametrize(("severities", "run_rc", "expected"), [
    ([], 0, 0), (["warning", "info"], 0, 0), (["warning", "critical"], 0, 5),
    (["critical"], 4, 4), (["critical"], 3, 3), ([], 1, 1)])
def test_exit_codes(severities, run_rc, expected) -> None:
    findings = [{"severity": s} for s in severities]
    assert doctor_cmd.exit_code(findings, run_rc) == expected


def test_table_groups_by_host_and_severity() -> None:
    from rich.console import Console

    findings = doctor_cmd.sort_findings([
        {"host": "n2", "check": "ntp", "severity": "warning", "evidence": "e", "message": "m",
         "step": None, "command": None},
        {"host": "n1", "check": "b", "severity": "warning", "evidence": "e", "message": "m",
         "step": "x", "command": "kubemedic recover x -c c --limit n1"},
        {"host": "n1", "check": "a", "severity": "critical", "evidence": "e", "message": "m",
         "step": "y", "command": "kubemedic recover y -c c --limit n1"}])
    assert [(f["host"], f["severity"]) for f in findings] == [
        ("n1", "critical"), ("n1", "warning"), ("n2", "warning")]
    console = Console(width=200, record=True)
    console.print(doctor_cmd.findings_table(findings))
    text = console.export_text()
    assert text.count("n1") == 3  # host column once + two commands
    assert "kubemedic recover y -c c --limit n1" in text


def test_oversized_container_logs_are_reported_even_with_docker_down() -> None:
    def down(probe):
        probe["services"]["docker"] = {"installed": True, "active": False, "state": "failed"}
        probe["docker"]["images"] = None
        probe["big_logs"] = [{"path": "/var/lib/docker/containers/a/a-json.log", "bytes": 5 << 30}]
    assert pairs(run(down)) == {("docker-active", "critical", None),
                                ("container-log-size", "warning", "disk-cleanup")}


def test_skipped_checks_are_not_reported() -> None:
    def two(probe):
        probe["kernel"]["devdrv_class"] = False
        probe["docker"]["default_runtime"] = "ascend"
        probe["logs"]["journal"] = 'msg="shim reaped"\ncleaning up after killed shim'
    npu = {"accelerator": "ascend", "groups": ["npu"]}
    assert {f["check"] for f in run(two, **npu)} == {
        "npu-devdrv-class", "log:shim-killed", "log:shim-reaped"}
    assert run(two, skip_checks=["npu-devdrv-class", "log:shim-*"], **npu) == []


def test_settings_are_required_from_the_caller() -> None:
    """Thresholds are defined once (roles/doctor/defaults/main.yml): no fallback in checks.py."""
    partial = {k: v for k, v in SETTINGS.items() if k not in ("disk_warn_pct", "kb")}
    with pytest.raises(ValueError, match="node1 lack disk_warn_pct, kb: the doctor role"):
        checks.evaluate("node1", copy.deepcopy(HEALTHY), partial)


def test_role_passes_every_setting_the_checks_read() -> None:
    assert set(role_settings()) == set(checks.SETTINGS)


def test_inotify_minimums_are_the_ones_common_sets() -> None:
    """doctor reads common's values (one definition) instead of repeating 512 / 262144."""
    import yaml

    from tests.unit.doctor_settings import REPO

    common = yaml.safe_load((REPO / "roles" / "common" / "defaults" / "main.yml").read_text())
    assert (SETTINGS["inotify_min_instances"], SETTINGS["inotify_min_watches"]) == (
        common["common_inotify_max_user_instances"], common["common_inotify_max_user_watches"])
    assert "512" not in (REPO / "roles" / "doctor" / "defaults" / "main.yml").read_text()


# --- root cause first (issue 13 item 7) -----------------------------------------------------

DOCKER_DOWN = {"installed": True, "active": False, "state": "failed failed"}
BROKEN_TOML = {"path": "/etc/containerd/config.toml", "exists": True, "checked_with": "tomllib",
               "error": "Expected '=' after a key in a key/value pair (at line 3, column 9)"}


def test_invalid_daemon_json_is_listed_before_docker_down_and_explains_it() -> None:
    """Tried as a new user: docker down because of a hand-broken daemon.json. The first line
    must be the repair that works (recover daemon-json), not `bootstrap --tags
    container-runtime` (which fails on that same file)."""
    found = run(_all(_set("services|docker", DOCKER_DOWN),
                     _set("docker|daemon_json_error", "Expecting ',' delimiter: line 3"),
                     _set("docker|images", None),
                     _set("logs|journal", "dockerd[812]: unable to configure the Docker daemon "
                                          "with file /etc/docker/daemon.json: invalid character "
                                          "'}' looking for beginning of object key string")))
    assert [f["check"] for f in found] == [
        "docker-daemon-json", "docker-active", "log:docker-daemon-json-invalid"]
    assert found[0]["command"] == "kubemedic recover daemon-json -c acme --limit node1"
    assert found[0]["caused_by"] is None
    assert found[0]["explains"] == ["docker-active", "log:docker-daemon-json-invalid"]
    assert {f["caused_by"] for f in found[1:]} == {"docker-daemon-json"}


def test_unparsable_containerd_config_is_the_root_of_containerd_and_docker_down() -> None:
    found = run(_all(_set("containerd_config", BROKEN_TOML),
                     _set("services|containerd", DOCKER_DOWN),
                     _set("services|docker", DOCKER_DOWN), _set("docker|images", None)))
    assert [(f["check"], f["caused_by"]) for f in found] == [
        ("containerd-config", None), ("containerd-active", "containerd-config"),
        ("docker-active", "containerd-config")]
    assert found[0]["command"] == (
        "kubemedic bootstrap -c acme --tags container-runtime --limit node1")
    assert "line 3, column 9" in found[0]["evidence"]


def test_the_cause_comes_first_even_when_less_severe_than_its_symptom() -> None:
    """A warning that explains a critical finding ranks with the critical one, and before it."""
    found = run(_all(_set("inotify|max_user_instances", 128),
                     _set("disks|/|used_pct", 97.0),
                     _set("logs|journal", "kubelet[9]: Failed to allocate directory watch: Too "
                                          "many open files")))
    checks_in_order = [f["check"] for f in found]
    assert checks_in_order.index("inotify-limits") < checks_in_order.index(
        "log:inotify-exhausted")
    assert next(f for f in found if f["check"] == "log:inotify-exhausted")[
        "caused_by"] == "inotify-limits"


def test_order_does_not_depend_on_the_input_order() -> None:
    found = run(_all(_set("containerd_config", BROKEN_TOML),
                     _set("services|containerd", DOCKER_DOWN),
                     _set("services|docker", DOCKER_DOWN), _set("docker|images", None)))
    assert checks.order(reversed(found)) == found
    assert doctor_cmd.sort_findings(list(reversed(found))) == found


def test_unrelated_findings_are_not_folded() -> None:
    found = run(_all(_set("ntp|synchronized", False), _set("fstab_nfs|0|mounted", False)))
    assert all(f["caused_by"] is None and f["explains"] == [] for f in found)


def test_table_folds_the_symptom_under_its_cause() -> None:
    from rich.console import Console

    found = run(_all(_set("containerd_config", BROKEN_TOML),
                     _set("services|containerd", DOCKER_DOWN)))
    console = Console(width=220, record=True)
    console.print(doctor_cmd.findings_table(found))
    text = console.export_text()
    assert text.index("containerd-config") < text.index("└ containerd-active")
    assert "repair containerd-config first" in text


MASTER_IP_CHANGED = _set("kubeadm", {"ca_sha256": "c" * 64,
                                     "apiserver_advertise": "192.168.100.10",
                                     "kubelet_server": "https://192.168.100.10:6443",
                                     "addresses": ["192.168.100.20", "10.244.0.1"]})


def test_master_ip_change_is_named_from_the_advertise_address_and_rebuilds_the_cluster() -> None:
    """Seed 001 (master IP change = rebuild): the API server's manifest advertises an address the
    master no longer has. Before: doctor read only `kubectl` failing and named after-reboot (which
    restarts kubelet, changing nothing). The repair rebuilds the cluster: never --limit one host."""
    def api_down(probe):
        MASTER_IP_CHANGED(probe)
        probe["cluster"] = {"available": False, "kubeconfig_present": True,
                            "reason": "Unable to connect to the server: dial tcp "
                                      "192.168.100.10:6443: connect: no route to host"}
    found = run(api_down, groups=["masters"], first_master="node1")
    by_check = {f["check"]: f for f in found}
    address = by_check["apiserver-address"]
    assert address["severity"] == "critical" and address["caused_by"] is None, address
    assert address["command"] == "kubemedic recover master-ip-change -c acme", address
    assert "192.168.100.10" in address["evidence"] and "192.168.100.20" in address["evidence"]
    assert by_check["kubernetes-api"]["caused_by"] == "apiserver-address", found
    assert found[0]["check"] == "apiserver-address"


def test_the_advertise_address_on_the_node_is_healthy() -> None:
    def same(probe):
        MASTER_IP_CHANGED(probe)
        probe["kubeadm"]["addresses"].append("192.168.100.10")
    assert run(same, groups=["masters"]) == []
    assert run(_set("kubeadm|addresses", None), groups=["masters"]) == []  # unknown: no finding


def _old_cluster(probe):
    probe["cluster"] = {"available": True, "kubeconfig_present": True, "ca_sha256": "d" * 64,
                        "nodes": {"items": []}, "pods": {"items": []}, "events": {"items": []}}


def test_a_node_of_an_older_cluster_names_kube_reset_with_the_join() -> None:
    """The real lab: a worker left out of `reset --reinit` keeps the old cluster's CA; doctor said
    only node-registered with `bootstrap --tags kubernetes-join`, which skips a node that has a
    kubelet.conf. Its CA is not the first master's: kube-reset with the join, on that node."""
    found = run(_old_cluster, groups=["workers"], first_master="master1")
    by_check = {f["check"]: f for f in found}
    stale = by_check["kubeadm-cluster-ca"]
    assert stale["command"] == ("kubemedic recover kube-reset -c acme --limit node1 "
                                "-e kubernetes_reset_reinit=true"), stale
    assert stale["severity"] == "critical" and stale["caused_by"] is None
    assert by_check["node-registered"]["caused_by"] == "kubeadm-cluster-ca", found
    # the same CA, or the first master itself, or a host that is no Kubernetes node: nothing
    def same_ca(probe):
        _old_cluster(probe)
        probe["cluster"]["ca_sha256"] = "c" * 64
    assert "kubeadm-cluster-ca" not in {f["check"] for f in run(same_ca, groups=["workers"],
                                                                  first_master="master1")}
    assert "kubeadm-cluster-ca" not in {f["check"] for f in run(_old_cluster, groups=["masters"],
                                                                  first_master="node1")}
    assert "kubeadm-cluster-ca" not in {f["check"] for f in run(_old_cluster, groups=["registry"],
                                                                  first_master="master1")}


def test_npu_devdrv_class_names_the_folder_doctor_probed() -> None:
    """The probe looks where the inventory's ascend_driver_sysfs_class says (doctor_npu_sysfs_class):
    the evidence names that folder, not a fixed /sys path."""
    def gone(probe):
        probe["kernel"].update(devdrv_class=False, devdrv_class_path="/run/fake-sys/devdrv-class")
        probe["docker"]["default_runtime"] = "ascend"
    found = [f for f in run(gone, accelerator="ascend", groups=["npu"])
             if f["check"] == "npu-devdrv-class"]
    assert [f["evidence"] for f in found] == ["/run/fake-sys/devdrv-class: missing"]


def test_doctor_table_prints_log_text_as_written() -> None:
    """The evidence and message of a finding are log text: `[emerg]` stays, `[/x]` cannot raise."""
    from rich.console import Console

    finding = {"host": "n1", "check": "log:nginx-down", "severity": "warning",
               "evidence": "[emerg] 1#1: bind() failed [/run/nginx.pid]",
               "message": "nginx is down [/etc/nginx]", "step": "nginx-restart",
               "command": "kubemedic recover nginx-restart -c c --limit n1", "caused_by": None}
    console = Console(width=300, record=True)
    console.print(doctor_cmd.findings_table([finding]))
    text = console.export_text()
    assert "[emerg] 1#1: bind() failed [/run/nginx.pid]" in text and "[/etc/nginx]" in text
