"""Every repair doctor or explain prints is a command the operator can paste and that does what it
says: it parses with the real click CLI (kubemedic.main.cli), a `recover` step exists in
recover_steps.yml, a `bootstrap --tags` tag exists in playbooks/site.yml, every `-e` key is a
variable the step's role reads, and a step that runs kubectl on the first master is limited to
it. Enforced for every check in cli/kubemedic/doctor/checks.py (each driven by probe data that
triggers it; a check the trigger list misses fails the test) and every knowledge-base signature
loaded through kb.load().

No test doubles: pure functions and the click command tree (nothing is run).
"""

from __future__ import annotations

import copy
import json
import re
import shlex
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from kubemedic.commands.recover import load_steps
from kubemedic.commands.recover_index import recover_plays, step_locations
from kubemedic.doctor import checks, kb
from kubemedic.main import cli
from tests.unit.test_doctor_checks import HEALTHY, SETTINGS, _all, _set

REPO = Path(__file__).resolve().parents[2]
KUBECTL = REPO / "tests" / "data" / "kubectl"
NOW = datetime(2026, 12, 1, 22, 0, tzinfo=timezone.utc).timestamp()
STEPS = {step["name"] for step in load_steps()}
# Findings where kubemedic has nothing to run, by design (the message says what a human does):
# a NIC named in doctor_nics that does not exist (the inventory is wrong), the node's workload
# exhausting memory/PIDs, an application's own crash loop.
NO_REPAIR = {"nic", "node-memory-pressure", "node-pid-pressure", "pod-restarts",
             "peer-unreachable", "grafana-unreachable"}


def site_tags() -> set[str]:
    tags: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "tags":
                    tags.update([value] if isinstance(value, str) else value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)
    walk(yaml.safe_load((REPO / "playbooks" / "site.yml").read_text()))
    return tags - {"always", "never"}


def tag_exists(tag: str) -> bool:
    # Tags are being renamed to hyphen style (container_runtime -> container-runtime) on another
    # branch; until it lands, the underscore spelling in site.yml counts for the hyphen one.
    tags = site_tags()
    return tag in tags or tag.replace("-", "_") in tags


def role_reads(role: str, variable: str) -> bool:
    """The role declares the variable (defaults/argument_specs) and a task or template uses it."""
    folder = REPO / "roles" / role
    declared = variable in (folder / "defaults" / "main.yml").read_text()
    used = any(re.search(rf"\b{re.escape(variable)}\b", path.read_text())
               for sub in ("tasks", "templates") for path in (folder / sub).glob("**/*")
               if path.is_file())
    return declared and used


def parse(command: str) -> tuple[list[str], dict[str, Any]]:
    """Resolve the command with the real CLI: (command path, parsed parameters)."""
    argv = shlex.split(command)
    assert argv[0] == "kubemedic", command
    group: click.Command = cli
    ctx = click.Context(cli, info_name="kubemedic")
    path, rest = [], argv[1:]
    while isinstance(group, click.Group):
        name, sub, rest = group.resolve_command(ctx, rest)
        assert sub is not None, f"{command}: no command {name!r}"
        path.append(name)
        if isinstance(sub, click.Group):
            ctx = click.Context(sub, info_name=name, parent=ctx)
        group = sub
    sub_ctx = group.make_context(path[-1], list(rest), parent=ctx)
    return path, sub_ctx.params


def assert_runnable(command: str, host: str, first_master: str = "master1") -> None:
    path, params = parse(command)
    assert params.get("customer"), f"{command}: no -c CUSTOMER"
    extra = dict(item.split("=", 1) for item in params.get("extra_vars") or ())
    if path == ["recover"]:
        step = params["step"]
        assert step in STEPS, f"{command}: no recovery step {step!r}"
        on_master = step in checks.FIRST_MASTER_STEPS or bool(
            extra.get(checks.FIRST_MASTER_WHEN.get(step, "")))
        where = None if step in checks.CLUSTER_STEPS else first_master if on_master else host
        assert params.get("limit") == where, f"{command}: must be --limit {where}"
        roles = [loc["role"] for loc in step_locations()[step]]
        for key in extra:
            assert any(role_reads(role, key) for role in roles), \
                f"{command}: -e {key} is read by none of {roles}"
        for key in checks.STEP_REQUIRED_VARS.get(step, ()):
            assert extra.get(key), f"{command}: {step} needs -e {key}"
    elif path == ["bootstrap"]:
        tags = [t for value in params.get("tags") or () for t in value.split(",")]
        assert tags, f"{command}: bootstrap without --tags converges everything"
        for tag in tags:
            assert tag_exists(tag), f"{command}: no tag {tag!r} in playbooks/site.yml"
        assert params.get("limit") == host, command
    elif path in (["heal"], ["images", "load"], ["ping"]):
        assert params.get("limit") == host, command
    else:
        pytest.fail(f"{command}: not a repair doctor may name ({' '.join(path)})")


def cluster_view() -> dict[str, Any]:
    def load(name: str) -> Any:
        return json.loads((KUBECTL / name).read_text())
    return {"available": True, "kubeconfig_present": True, "now": NOW,
            "kubeconfig": "/etc/kubernetes/admin.conf", "nodes": load("nodes.json"),
            "pods": load("pods.json"), "events": load("events.json"),
            "certs": {"source": "kubeadm certs check-expiration",
                      "text": (KUBECTL / "kubeadm-certs-check-expiration.txt").read_text()}}


def _cluster(view: dict[str, Any] | None = None):
    def mutate(probe: dict[str, Any]) -> None:
        probe["cluster"] = view if view is not None else cluster_view()
    return mutate


KUBELET_PROBE = ('Oct 25 02:35:20 worknode1 kubelet[1022]: I1025 02:35:20.1 1022 prober.go:116] '
                 '"Probe failed" probeType="Liveness" pod="rook-ceph/rook-ceph-rgw-my-store-a-'
                 '6d8f7c9b5d-x2kqp" output="Get \\"http://10.42.2.44:80/\\": context deadline '
                 'exceeded (Client.Timeout exceeded while awaiting headers)"')
# (host, groups, mutation, settings): together they trigger every check of checks.py.
TRIGGERS: list[tuple[str, list[str], Any, dict[str, Any]]] = [
    ("node1", ["workers"], _set("disks|/|used_pct", 96.0), {}),
    ("node1", ["workers"], _set("disks|/|inode_used_pct", 99.0), {}),
    # The private registry's own storage full (its folder is probed on registry nodes only).
    ("node1", ["registry"], _set("disks|/var/lib/registry", {
        "exists": True, "used_pct": 97.0, "inode_used_pct": 1.0, "device": 2}),
     {"registry_storage_dir": "/var/lib/registry"}),
    ("node1", ["workers"], _set("swap", ["/swapfile"]), {}),
    ("node1", ["workers"], _set("swap", ["/swapfile"]), {"shared_kernel": True}),
    ("node1", ["workers"], _set("fstab_swap", ["/swapfile none swap sw 0 0"]), {}),
    ("node1", ["workers"], _set("ntp|synchronized", False), {}),
    ("node1", ["workers"], _set("services|kubelet", {"installed": False, "active": False,
                                                     "state": "inactive dead"}), {}),
    ("node1", ["workers"], _set("services|kubelet", {"installed": True, "active": False,
                                                     "state": "inactive dead"}), {}),
    ("node1", ["workers"], _set("services|docker", {"installed": True, "active": False,
                                                    "state": "failed"}), {}),
    ("node1", ["workers"], _set("versions|docker.io", "24.0.5-1"), {}),
    ("node1", ["workers"], _set("versions|kubelet", "1.27.1-1.1"), {}),
    ("node1", ["workers"], _set("versions|containerd-binary", "1.2.2"), {}),
    ("node1", ["workers"], _set("containerd_config", {
        "path": "/etc/containerd/config.toml", "exists": True, "checked_with": "tomllib",
        "error": "Expected '=' after a key in a key/value pair (at line 3, column 9)"}), {}),
    ("node1", ["workers"], _set("docker|daemon_json_error", "Expecting ',' delimiter"), {}),
    ("node1", ["gpu"], None, {"accelerator": "nvidia"}),
    ("node1", ["workers"], _set("docker|images", ["busybox:latest"]), {}),
    ("node1", ["masters"], None, {"kubeadm_images": ["kube-scheduler:v1.28.2"]}),
    ("node1", ["workers"], _set("big_logs", [{"path": "/x-json.log", "bytes": 9 << 30}]), {}),
    ("node1", ["workers"], _set("fstab_nfs|0|mounted", False), {}),
    ("node1", ["workers"], _set("tcp_wrappers|hosts.allow", [(1, "portmap: 10.1."),
                                                             (2, "portmap:  10.1.")]), {}),
    ("node1", ["workers"], _set("inotify|max_user_instances", 128), {}),
    ("node1", ["gpu"], _all(_set("kernel|accelerator_modules|nvidia", []),
                            _set("docker|default_runtime", "nvidia")), {"accelerator": "nvidia"}),
    ("node1", ["npu"], _all(_set("kernel|devdrv_class", False),
                            _set("processes|npu_collector", [])), {"accelerator": "ascend"}),
    ("node1", ["workers"], _set("nics", {"enp1": {"exists": False},
                                         "enp2": {"exists": True, "operstate": "down",
                                                  "autoneg": False}}), {}),
    ("node1", ["workers"], _set("apt_sources|0|problem", "key missing"), {}),
    ("node1", ["workers"], _set("mysql", {"running": True, "dirs": ["/d"],
                                          "newest_age_hours": None}), {}),
    ("node1", ["workers"], _set("logs|journal", KUBELET_PROBE), {}),
    ("master1", ["masters"], _cluster(), {}),
    ("worknode1", ["workers", "gpu"], _cluster(), {}),
    ("worknode2", ["workers"], _cluster(), {}),
    ("worknode3", ["workers"], _cluster(), {}),
    ("master1", ["masters"], _cluster({"available": False, "kubeconfig_present": False,
                                       "kubeconfig": "/etc/kubernetes/admin.conf"}), {}),
    ("master1", ["masters"], _cluster({"available": False, "kubeconfig_present": True,
                                       "reason": "The connection to the server "
                                                 "192.168.100.10:6443 was refused"}), {}),
]


def _pressure_view() -> dict[str, Any]:
    view = cluster_view()
    for cond in view["nodes"]["items"][0]["status"]["conditions"]:
        if cond["type"] in ("MemoryPressure", "PIDPressure"):
            cond["status"] = "True"
    return view


def _unknown_oci_error_view() -> dict[str, Any]:
    view = cluster_view()
    cuda = next(p for p in view["pods"]["items"] if p["metadata"]["name"].startswith("cuda"))
    cuda["status"]["containerStatuses"][0]["state"]["terminated"]["message"] = (
        "failed to create shim task: OCI runtime create failed: runc create failed: unable to "
        "start container process: error during container init: error setting cgroup config for "
        "procHooks process: unable to freeze: unknown")
    return view


def _zero_gpus_view() -> dict[str, Any]:
    """A GPU node whose device plugin did not register again after kubelet restarted."""
    view = cluster_view()
    node = next(n for n in view["nodes"]["items"] if n["metadata"]["name"] == "worknode1")
    node["status"]["capacity"] = node["status"]["allocatable"] = {"nvidia.com/gpu": "0"}
    return view


TRIGGERS.append(("master1", ["masters"], _cluster(_pressure_view()), {}))
TRIGGERS.append(("worknode1", ["workers", "gpu"], _cluster(_zero_gpus_view()), {}))
TRIGGERS.append(("worknode1", ["workers"], _cluster(_unknown_oci_error_view()), {}))


def _portal_nginx_down_view() -> dict[str, Any]:
    """Seed 000 #11: the portal's nginx pod (a Deployment's) restarting after a master reboot."""
    view = cluster_view()
    pod = copy.deepcopy(view["pods"]["items"][0])
    pod["metadata"].update(namespace="default", name="nginx-6d4cf56db6-x7k2p",
                           labels={"app": "nginx", "pod-template-hash": "6d4cf56db6"},
                           ownerReferences=[{"kind": "ReplicaSet", "name": "nginx-6d4cf56db6"}])
    pod["spec"]["nodeName"] = "master1"
    pod["status"]["containerStatuses"] = [{"name": "nginx", "restartCount": 4, "state": {
        "waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting"}}}]
    view["pods"]["items"].append(pod)
    return view


def _job_scripts_missing_view() -> dict[str, Any]:
    """Seed 000 #8: the job manager's pod cannot mount the job scripts ConfigMap."""
    view = cluster_view()
    pod = copy.deepcopy(view["pods"]["items"][0])
    pod["metadata"].update(namespace="default", name="jobmanager-7c9d8b6f5d-k2x9q",
                           labels={"app": "jobmanager", "pod-template-hash": "7c9d8b6f5d"},
                           ownerReferences=[{"kind": "ReplicaSet", "name": "jobmanager-7c9d8b6f5d"}])
    pod["spec"]["nodeName"] = "worknode1"
    pod["status"]["containerStatuses"] = [{"name": "jobmanager", "restartCount": 0, "ready": False,
                                           "state": {"waiting": {"reason": "ContainerCreating"}}}]
    view["pods"]["items"].append(pod)
    view["events"]["items"].append({
        "type": "Warning", "reason": "FailedMount", "count": 7,
        "lastTimestamp": datetime.fromtimestamp(NOW - 60, timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%SZ"),
        "involvedObject": {"kind": "Pod", "namespace": "default",
                           "name": "jobmanager-7c9d8b6f5d-k2x9q"},
        "source": {"component": "kubelet", "host": "worknode1"},
        "message": 'MountVolume.SetUp failed for volume "dlws-scripts" : configmap '
                   '"dlws-scripts" not found'})
    return view


def _job_service_down_view() -> dict[str, Any]:
    """Seed 000 #12: the job manager's pod restarting in a loop: jobs Fail or Error."""
    view = _job_scripts_missing_view()
    view["events"]["items"].pop()
    pod = view["pods"]["items"][-1]
    pod["spec"]["containers"] = [{"name": "jobmanager", "image": "registry.local:5000/job:1"}]
    pod["status"]["containerStatuses"] = [{"name": "jobmanager", "restartCount": 6, "state": {
        "waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting"}}}]
    return view


TRIGGERS += [
    ("worknode1", ["workers"], _cluster(_job_service_down_view()),
     {"job_services": ["default/restfulapi", "default/jobmanager"]}),
    ("master1", ["masters"], _cluster(_portal_nginx_down_view()), {}),
    ("node1", ["workers"], _set("peers", {"checked": 2, "unreachable": {"a": "x", "b": "y"}}), {}),
    ("node1", ["workers"], _set("peers", {"checked": 3, "unreachable": {"a": "x"}}), {}),
    ("master1", ["masters"], _set("portal", {"/etc/Dashboard/local.yaml": {
        "grafana": "http://10.0.0.99:3000", "reachable": False, "error": "timed out"}}),
     {"grafana_url": "http://10.0.0.5:3000"}),
    ("master1", ["masters"], _set("portal", {"/etc/Dashboard/local.yaml": {
        "grafana": "http://10.0.0.99:3000", "reachable": False, "error": "timed out"}}), {}),
    ("worknode1", ["workers"], _cluster(_job_scripts_missing_view()), {}),
    ("master1", ["masters"], _set("kubeadm|apiserver_advertise", "192.168.100.10"), {}),
    ("worknode1", ["workers"], _all(_cluster({**cluster_view(), "ca_sha256": "d" * 64})), {}),
]


def triggered() -> list[dict[str, Any]]:
    found = []
    for host, groups, mutate, settings in TRIGGERS:
        probe = copy.deepcopy(HEALTHY)
        if mutate:
            mutate(probe)
        found += checks.evaluate(host, probe, {**SETTINGS, "groups": groups,
                                               "first_master": "master1", **settings})
    return found


FINDINGS = triggered()


def _check_patterns() -> set[str]:
    """Every check name checks.py can emit, as shell patterns ({...} parts become *)."""
    source = (REPO / "cli" / "kubemedic" / "doctor" / "checks.py").read_text()
    names = re.findall(r'ctx\.add\(\s*f?"([^"]+)"', source)
    names += re.findall(r'_add_signature\(\s*ctx,\s*f"([^"]+)"', source)
    return {re.sub(r"\{[^}]*\}", "*", name) for name in names}


def test_every_check_of_checks_py_is_triggered() -> None:
    import fnmatch

    seen = {f["check"] for f in FINDINGS}
    missing = sorted(p for p in _check_patterns()
                     if not any(fnmatch.fnmatchcase(check, p) for check in seen))
    assert not missing, f"checks no trigger in TRIGGERS produces: {missing}"


@pytest.mark.parametrize("finding", FINDINGS, ids=lambda f: f"{f['host']}:{f['check']}")
def test_every_finding_names_a_runnable_command(finding: dict[str, Any]) -> None:
    shared_swap = finding["check"] == "swap" and finding["severity"] == "info"  # the lab host's
    if finding["check"] in NO_REPAIR or shared_swap:
        assert finding["command"] is None
        return
    assert finding["command"], f"{finding['check']}: no command ({finding['message']})"
    assert_runnable(finding["command"], finding["host"])


@pytest.mark.parametrize("signature", kb.load(), ids=lambda s: s.id)
def test_every_signature_names_a_runnable_command(signature: kb.Signature) -> None:
    extravars = {key: "x" for key in checks.STEP_REQUIRED_VARS.get(signature.step or "", ())}
    command = checks.render_command(signature.step, signature.fix, "acme", "node1", "master1",
                                    extravars)
    assert command, f"{signature.id}: no step and no fix"
    if command.startswith("ssh "):
        # Nothing kubemedic can repair: the command collects what the vendor's support case
        # needs, on the node itself (and the cause says to call hardware support).
        assert command.startswith("ssh node1 ") and len(command.split()) > 2, command
        assert "hardware support" in command + signature.cause, signature.id
        return
    assert_runnable(command, "node1")


def test_first_master_steps_match_recover_yml() -> None:
    """A step whose play runs only on the first master is rendered --limit <first master>."""
    found = set()
    for play in recover_plays():
        step = next(t for t in play["tags"] if t != "never")
        whens = [str(task.get("when", "")) for task in play.get("tasks") or []]
        if any("inventory_hostname == kubemedic_first_master" in w for w in whens):
            found.add(step)
    assert found == set(checks.FIRST_MASTER_STEPS)


def test_required_step_variables_are_asserted_by_the_step() -> None:
    for step, keys in checks.STEP_REQUIRED_VARS.items():
        for loc in step_locations()[step]:
            text = (REPO / loc["file"]).read_text()
            for key in keys:
                assert f"{key} | length > 0" in text, f"{loc['file']} does not require {key}"


def test_worker_probe_timeout_event_repairs_the_deployment_from_the_first_master() -> None:
    """Seed 002: the event names the pod on worknode1; the repair runs kubectl on master1 and
    is given the namespace and the Deployment (the ReplicaSet's owner); rook's CephObjectStore
    is named because its operator owns that Deployment."""
    probe = copy.deepcopy(HEALTHY)
    probe["cluster"] = cluster_view()
    found = checks.evaluate("worknode1", probe, {**SETTINGS, "groups": ["workers"],
                                                 "first_master": "master1"})
    event = next(f for f in found if f["check"] == "event:liveness-probe-timeout")
    assert event["command"] == (
        "kubemedic recover probe-timeout -c acme --limit master1 -e "
        "kube_api_probe_namespace=rook-ceph -e kube_api_probe_deployment=rook-ceph-rgw-my-store-a")
    assert "CephObjectStore my-store" in event["message"]
    # the old event (outside doctor_window_minutes) about minio-0 is history
    assert "minio" not in json.dumps(found)
    # the rgw container's 65 restarts are that probe's doing: folded under it
    restarts = next(f for f in found if f["check"] == "pod-restarts")
    assert restarts["caused_by"] == "event:liveness-probe-timeout"
    assert "pod-restarts" in event["explains"]


def test_kubelet_log_probe_timeout_names_the_deployment_or_no_command() -> None:
    found = checks.evaluate("worknode1", _with(_set("logs|journal", KUBELET_PROBE)),
                            {**SETTINGS, "first_master": "master1"})
    assert found[0]["command"] == (
        "kubemedic recover probe-timeout -c acme --limit master1 -e "
        "kube_api_probe_namespace=rook-ceph -e kube_api_probe_deployment=rook-ceph-rgw-my-store-a")
    line = 'Liveness probe failed: Get "http://10.42.2.44:80/": context deadline exceeded'
    found = checks.evaluate("worknode1", _with(_set("logs|container", line)),
                            {**SETTINGS, "first_master": "master1"})
    assert found[0]["step"] == "probe-timeout" and found[0]["command"] is None
    assert "-e kube_api_probe_namespace=..." in found[0]["message"]


def _with(mutate) -> dict[str, Any]:
    probe = copy.deepcopy(HEALTHY)
    mutate(probe)
    return probe


def test_explain_renders_with_the_same_function() -> None:
    from kubemedic.commands.doctor import _explain_command

    sig = kb.by_id("liveness-probe-timeout")
    assert _explain_command(sig) == (
        "kubemedic recover probe-timeout -c CUSTOMER --limit FIRST_MASTER -e "
        "kube_api_probe_namespace=NAMESPACE -e kube_api_probe_deployment=DEPLOYMENT")
    sig = kb.by_id("pause-sandbox-image")
    assert _explain_command(sig) == checks.render_command(sig.step, None, "CUSTOMER", "HOST")


def test_a_broken_command_is_caught() -> None:
    """The checker itself can fail: unknown step, tag, -e key, or a prose fix."""
    for bad in ("kubemedic recover no-such-step -c acme --limit node1",
                "kubemedic bootstrap -c acme --tags no-such-tag --limit node1",
                "kubemedic recover probe-timeout -c acme --limit node1 -e "
                "kube_api_probe_namespace=a -e kube_api_probe_deployment=b",
                "kubemedic recover disk-cleanup -c acme --limit node1 -e not_a_variable=1",
                "kubemedic recover disk-cleanup --limit node1"):
        with pytest.raises((AssertionError, click.ClickException, pytest.fail.Exception)):
            assert_runnable(bad, "node1")
    with pytest.raises(AssertionError):
        parse("cordon node1, drain it and reboot it")
