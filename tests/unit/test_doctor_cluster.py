"""Doctor reads the cluster (issue 13 item 8): node conditions, failing containers, warning
events and kubeadm certificate expiry, from kubectl output recorded in the shapes Kubernetes 1.28
prints (tests/data/kubectl/, see its README), each finding on the node it concerns, and event and
container messages through the knowledge base.

Test data, not a double: tests/data/kubectl/*.json and kubeadm-certs-check-expiration.txt stand
in for what plugins/modules/kubemedic_doctor_cluster.py returns from the first master.
"""

from __future__ import annotations

import copy
from typing import Any

from kubemedic.doctor import checks, cluster
from tests.unit.test_doctor_checks import DOCKER_DOWN, HEALTHY, SETTINGS, _all, _set
from tests.unit.test_doctor_commands import NOW, cluster_view

GROUPS = {"master1": ["masters"], "worknode1": ["workers", "gpu"], "worknode2": ["workers"],
          "worknode3": ["workers"]}


def doctor(host: str, view: dict[str, Any] | None = None, mutate=None,
           **settings) -> list[dict[str, Any]]:
    probe = copy.deepcopy(HEALTHY)
    probe["cluster"] = cluster_view() if view is None else view
    if mutate:
        mutate(probe)
    return checks.evaluate(host, probe, {**SETTINGS, "groups": GROUPS.get(host, ["workers"]),
                                         "first_master": "master1", **settings})


def by_check(findings: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f["check"]: f for f in findings}


def test_each_finding_goes_to_the_node_it_concerns() -> None:
    assert set(by_check(doctor("master1"))) == {"kubeadm-certs", "pod-restarts"}
    assert set(by_check(doctor("worknode1"))) == {
        "node-disk-pressure", "nvidia-default-runtime", "pod:nvidia-smi-not-found",
        "event:liveness-probe-timeout", "pod-restarts", "pod-image-pull"}
    assert set(by_check(doctor("worknode2"))) == {"node-ready", "event:pause-sandbox-image"}


def test_node_conditions() -> None:
    ready = by_check(doctor("worknode2"))["node-ready"]
    assert (ready["severity"], ready["step"]) == ("critical", "after-reboot")
    assert "Ready=Unknown NodeStatusUnknown: Kubelet stopped posting node status." in \
        ready["evidence"]
    pressure = by_check(doctor("worknode1"))["node-disk-pressure"]
    assert (pressure["severity"], pressure["step"]) == ("critical", "disk-cleanup")
    # a node whose conditions are Unknown reports Ready only, not three pressures
    assert not [f for f in doctor("worknode2") if f["check"].endswith("-pressure")]


def test_node_not_ready_is_folded_under_kubelet_down_on_that_node() -> None:
    def kubelet_down(probe):
        probe["services"]["kubelet"] = dict(DOCKER_DOWN)
    found = doctor("worknode2", mutate=kubelet_down)
    assert [(f["check"], f["caused_by"]) for f in found][:2] == [
        ("kubelet-active", None), ("node-ready", "kubelet-active")]


def test_container_messages_go_through_the_knowledge_base() -> None:
    found = by_check(doctor("worknode1"))
    cannot_run = found["pod:nvidia-smi-not-found"]
    assert cannot_run["command"] == (
        "kubemedic bootstrap -c acme --tags nvidia-runtime --limit worknode1")
    assert "default/cuda-smoke-7rq4m" in cannot_run["message"]
    assert cannot_run["caused_by"] == "nvidia-default-runtime"   # the node's own check explains it
    pull = found["pod-image-pull"]
    assert pull["command"] == "kubemedic images load -c acme --limit worknode1"
    assert "inference-api:1.9.0" in pull["evidence"]


def test_an_application_crash_loop_is_reported_without_a_platform_repair() -> None:
    web = by_check(doctor("master1"))["pod-restarts"]
    assert web["severity"] == "warning" and web["command"] is None
    assert "OOMKilled" in web["message"] and "kubectl -n portal logs" in web["message"]


def test_restart_threshold() -> None:
    assert "pod-restarts" not in by_check(doctor("worknode1", pod_restart_warn=100, kb=False))
    coredns = [f for f in doctor("master1", pod_restart_warn=1) if "coredns" in f["message"]]
    assert coredns and coredns[0]["severity"] == "info"


def test_sandbox_event_names_the_pause_image_step_on_the_node_that_reported_it() -> None:
    event = by_check(doctor("worknode2"))["event:pause-sandbox-image"]
    assert event["command"] == "kubemedic recover pause-image -c acme --limit worknode2"
    assert "[event FailedCreatePodSandBox (x12)]" in event["message"]


def test_events_outside_the_window_are_history() -> None:
    assert "minio" not in str(doctor("worknode1"))
    assert "minio" in str(doctor("worknode1", window_minutes=7 * 24 * 60))


def test_certificate_expiry_from_kubeadm_and_from_openssl() -> None:
    certs = by_check(doctor("master1"))["kubeadm-certs"]
    assert certs["severity"] == "critical"  # 3 days left
    assert certs["command"] == "kubemedic recover certs-renew -c acme --limit master1"
    assert "apiserver: 3 days left" in certs["evidence"] and "ca:" not in certs["evidence"]
    view = cluster_view()
    view["certs"] = {"source": "openssl x509 -enddate", "text": (
        "apiserver notAfter=Nov 30 08:12:00 2026 GMT\n"
        "etcd/server notAfter=Dec 21 08:12:00 2026 GMT\n"
        "ca notAfter=Jan  8 08:12:00 2036 GMT")}
    certs = by_check(doctor("master1", view))["kubeadm-certs"]
    assert certs["evidence"] == "apiserver: expired, etcd/server: 19 days left"
    view["certs"]["text"] = "ca notAfter=Jan  8 08:12:00 2036 GMT"
    assert "kubeadm-certs" not in by_check(doctor("master1", view))


def test_expired_certificates_explain_the_api_not_answering() -> None:
    view = {"available": False, "kubeconfig_present": True, "now": NOW,
            "reason": "Unable to connect to the server: x509: certificate has expired or is not "
                      "yet valid", "certs": cluster_view()["certs"]}
    found = doctor("master1", view)
    assert [(f["check"], f["caused_by"]) for f in found] == [
        ("kubeadm-certs", None), ("kubernetes-api", "kubeadm-certs")]


def test_no_kubeconfig_is_a_finding_only_where_kubernetes_should_run() -> None:
    view = {"available": False, "kubeconfig_present": False,
            "kubeconfig": "/etc/kubernetes/admin.conf", "reason": "no such file"}
    found = by_check(doctor("master1", view))
    assert found["kubernetes-api"]["severity"] == "warning"
    assert found["kubernetes-api"]["command"] == (
        "kubemedic bootstrap -c acme --tags kubernetes-control-plane --limit master1")
    # kubelet not installed (not bootstrapped yet): nothing about Kubernetes is reported
    def no_kubelet(probe):
        probe["services"]["kubelet"] = {"installed": False, "active": False, "state": "x"}
    assert "kubernetes-api" not in by_check(doctor("master1", view, no_kubelet))
    # and never on the other nodes
    assert doctor("worknode2", view) == []


def test_api_down_from_the_first_master_is_critical() -> None:
    view = {"available": False, "kubeconfig_present": True, "now": NOW,
            "reason": "The connection to the server 192.168.100.10:6443 was refused"}
    api = by_check(doctor("master1", view))["kubernetes-api"]
    assert (api["severity"], api["step"]) == ("critical", "after-reboot")
    assert doctor("worknode2", view) == []


def test_a_kubernetes_host_missing_from_the_nodes_is_reported() -> None:
    missing = by_check(doctor("worknode3"))["node-registered"]
    assert missing["command"] == "kubemedic bootstrap -c acme --tags kubernetes-join --limit worknode3"
    assert "node-registered" not in by_check(checks.evaluate(
        "nfs1", {**copy.deepcopy(HEALTHY), "cluster": cluster_view()},
        {**SETTINGS, "groups": ["nfs_server"], "first_master": "master1"}))


def test_node_name_differs_from_the_inventory_name() -> None:
    found = by_check(doctor("gpu-a", node_name="worknode2"))
    assert "node-ready" in found and found["node-ready"]["command"].endswith("--limit gpu-a")


def test_cluster_not_read_means_no_cluster_finding() -> None:
    probe = copy.deepcopy(HEALTHY)
    assert checks.evaluate("master1", probe, {**SETTINGS, "first_master": "master1",
                                              "groups": ["masters"]}) == []


def test_deployment_of_a_pod() -> None:
    pods = cluster.pods_by_key(cluster_view()["pods"])
    rgw = cluster.pod_ref(pods[("rook-ceph", "rook-ceph-rgw-my-store-a-6d8f7c9b5d-x2kqp")])
    assert (rgw.deployment, rgw.object_store, rgw.node) == (
        "rook-ceph-rgw-my-store-a", "my-store", "worknode1")
    job = cluster.pod_ref(pods[("default", "cuda-smoke-7rq4m")])
    assert job.deployment is None  # a Job's pod: no Deployment to patch
    daemon = cluster.pod_ref(pods[("kube-system", "nvidia-device-plugin-daemonset-8k2xw")])
    assert daemon.deployment is None
    assert cluster.guess_ref("portal", "portal-web-5c7d9f8b6c-pv9wz").deployment == "portal-web"
    assert cluster.guess_ref("storage", "minio-0").deployment is None


# What kubelet logs on a master while its API server restarts (kubeadm init, recover
# certs-renew), and the probe event it posts for the apiserver pod.
KUBELET_REFUSED = (
    'Dec 02 07:01:12 master1 kubelet[913]: E1202 07:01:12.5 913 reflector.go:138] '
    'k8s.io/client-go/informers/factory.go:134: Failed to watch *v1.Node: failed to list *v1.Node: '
    'Get "https://192.168.100.10:6443/api/v1/nodes?limit=500": dial tcp 192.168.100.10:6443: '
    'connect: connection refused')


def _refused_in_the_journal(probe: dict[str, Any]) -> None:
    probe["logs"]["journal"] = KUBELET_REFUSED


def test_api_refusals_in_the_journal_are_history_when_the_api_answers() -> None:
    """The master's kubelet journal keeps the refusals of every control-plane restart: while
    kubectl reads the cluster in the same run, they name no repair (doctor said after-reboot
    after every successful certs-renew and on every freshly bootstrapped master)."""
    found = by_check(doctor("master1", mutate=_refused_in_the_journal))
    refused = found["log:apiserver-refused"]
    assert (refused["severity"], refused["step"], refused["command"]) == ("info", None, None)
    assert "reads the cluster now: history" in refused["message"]
    assert "6443: connect: connection refused" in refused["evidence"]
    # the API not answering in this run: the same lines name the repair (under kubernetes-api)
    down = {"available": False, "kubeconfig_present": True, "now": NOW,
            "reason": "The connection to the server 192.168.100.10:6443 was refused"}
    found = by_check(doctor("master1", down, _refused_in_the_journal))
    refused = found["log:apiserver-refused"]
    assert (refused["severity"], refused["step"]) == ("critical", "after-reboot")
    assert refused["caused_by"] == "kubernetes-api"
    # no cluster read at all (doctor_cluster: false): unchanged, the repair is named
    probe = copy.deepcopy(HEALTHY)
    _refused_in_the_journal(probe)
    alone = by_check(checks.evaluate("master1", probe, {**SETTINGS, "groups": ["masters"],
                                                         "first_master": "master1"}))
    assert alone["log:apiserver-refused"]["step"] == "after-reboot"


def test_api_refused_probe_events_are_history() -> None:
    view = cluster_view()
    view["events"]["items"].append({
        "kind": "Event", "type": "Warning", "reason": "Unhealthy", "count": 3,
        "involvedObject": {"kind": "Pod", "namespace": "kube-system",
                           "name": "kube-apiserver-master1"},
        "metadata": {"namespace": "kube-system", "name": "kube-apiserver-master1.17a"},
        "source": {"component": "kubelet", "host": "master1"},
        "firstTimestamp": "2026-12-01T21:50:00Z", "lastTimestamp": "2026-12-01T21:51:00Z",
        "message": 'Startup probe failed: Get "https://192.168.100.10:6443/livez": dial tcp '
                   '192.168.100.10:6443: connect: connection refused'})
    event = by_check(doctor("master1", view))["event:apiserver-refused"]
    assert (event["severity"], event["command"]) == ("info", None)
    assert "kube-system/kube-apiserver-master1" in event["message"]
    assert "[event Unhealthy (x3)]" in event["message"]


def _devices(view: dict[str, Any], node: str, capacity: dict[str, str],
             allocatable: dict[str, str]) -> dict[str, Any]:
    """The view with the node's status.capacity / allocatable given these extended resources (on
    top of cpu, memory and pods as kubelet lists them)."""
    base = {"cpu": "16", "memory": "65732564Ki", "pods": "110"}
    item = next(n for n in view["nodes"]["items"] if n["metadata"]["name"] == node)
    item["status"]["capacity"] = {**base, **capacity}
    item["status"]["allocatable"] = {**base, **allocatable}
    return view


def test_a_gpu_node_with_zero_devices_names_the_device_plugin_restart() -> None:
    """kubelet restarted (a driver change) and the device plugin did not register again: the
    node still lists nvidia.com/gpu, with 0 devices (what kubelet 1.20 shows, measured in
    test_kubernetes_real.py's drill)."""
    view = _devices(cluster_view(), "worknode1", {"nvidia.com/gpu": "0"}, {"nvidia.com/gpu": "0"})
    found = by_check(doctor("worknode1", view))
    plugin = found["device-plugin-devices"]
    assert plugin["evidence"] == "nvidia.com/gpu: capacity 0, allocatable 0"
    assert (plugin["severity"], plugin["step"], plugin["caused_by"]) == (
        "critical", "device-plugin-restart", None)
    assert plugin["command"] == "kubemedic recover device-plugin-restart -c acme --limit worknode1"
    # only allocatable 0 (capacity still from before): the same
    view = _devices(cluster_view(), "worknode1", {"nvidia.com/gpu": "8"}, {"nvidia.com/gpu": "0"})
    assert by_check(doctor("worknode1", view))["device-plugin-devices"]["evidence"] == \
        "nvidia.com/gpu: capacity 8, allocatable 0"
    # filed under the node concerned only
    assert "device-plugin-devices" not in by_check(doctor("worknode2", view))
    assert "device-plugin-devices" not in by_check(doctor("master1", view))


def test_device_resources_present_absent_or_on_another_group_are_not_reported() -> None:
    healthy = _devices(cluster_view(), "worknode1", {"nvidia.com/gpu": "2"},
                       {"nvidia.com/gpu": "2"})
    assert "device-plugin-devices" not in by_check(doctor("worknode1", healthy))
    # no device plugin ever registered: the resource is unknown to the node (not this check)
    assert "device-plugin-devices" not in by_check(doctor("worknode1"))
    # worknode2 is not in group gpu: its nvidia.com/gpu 0 is not a GPU node's
    other = _devices(cluster_view(), "worknode2", {"nvidia.com/gpu": "0"}, {"nvidia.com/gpu": "0"})
    assert "device-plugin-devices" not in by_check(doctor("worknode2", other))
    # a CPU resource at 0 is not a device plugin's
    cpu = _devices(cluster_view(), "worknode1", {"hugepages-2Mi": "0"}, {"hugepages-2Mi": "0"})
    assert "device-plugin-devices" not in by_check(doctor("worknode1", cpu))


def test_an_npu_node_with_zero_ascend_devices_and_its_driver_missing() -> None:
    view = _devices(cluster_view(), "worknode2", {"huawei.com/Ascend910": "0"},
                    {"huawei.com/Ascend910": "0"})
    found = by_check(doctor("worknode2", view, groups=["workers", "npu"]))
    plugin = found["device-plugin-devices"]
    assert plugin["evidence"] == "huawei.com/Ascend910: capacity 0, allocatable 0"
    assert plugin["command"] == "kubemedic recover device-plugin-restart -c acme --limit worknode2"
    # the driver is not loaded (no /sys/class/devdrv-class): that is the cause, not the plugin
    def no_driver(probe: dict[str, Any]) -> None:
        probe["kernel"]["devdrv_class"] = False
    found = by_check(doctor("worknode2", view, no_driver, groups=["workers", "npu"],
                            accelerator="ascend"))
    assert found["device-plugin-devices"]["caused_by"] == "npu-devdrv-class"


def _never_pulled(image: str, owner: str) -> dict[str, Any]:
    """A pod of Deployment `owner` on worknode1 whose image is not on the node, with
    imagePullPolicy Never (the waiting state kubelet 1.20 reports)."""
    return {"metadata": {"namespace": "default", "name": f"{owner}-5d4f8b7c9d-x2v7k",
                         "labels": {"pod-template-hash": "5d4f8b7c9d"},
                         "ownerReferences": [{"kind": "ReplicaSet", "name": f"{owner}-5d4f8b7c9d"}]},
            "spec": {"nodeName": "worknode1", "containers": [
                {"name": owner, "image": image, "imagePullPolicy": "Never"}]},
            "status": {"phase": "Pending", "containerStatuses": [{
                "name": owner, "image": image, "ready": False, "restartCount": 0,
                "state": {"waiting": {"reason": "ErrImageNeverPull", "message": (
                    f'Container image "{image}" is not present with pull policy of Never')}}}]}}


def test_an_image_that_may_not_be_pulled_is_reported() -> None:
    """ErrImageNeverPull (the image gone from the node, imagePullPolicy Never): a job service's
    pod names job-path with its image; any other pod the air-gapped image load."""
    image = "registry.local:5000/jobs/runner:2"
    view = cluster_view()
    view["pods"] = {"items": [_never_pulled(image, "jobmanager"), _never_pulled(image, "web")]}
    found = doctor("worknode1", view=view, job_services=["default/jobmanager"])
    job = [f for f in found if f["check"] == "job-services"]
    assert [(f["step"], f["command"]) for f in job] == [
        ("job-path", f"kubemedic recover job-path -c acme -e container_runtime_job_images={image}")]
    pull = [f for f in found if f["check"] == "pod-image-pull"]
    assert [(f["subject"], f["command"]) for f in pull] == [
        ("default/web-5d4f8b7c9d-x2v7k", "kubemedic images load -c acme --limit worknode1")]
    assert "imagePullPolicy Never" in pull[0]["message"]


# A worker's kubelet while its master was rebooting, and while containerd restarted (both from
# the real containerd cluster's journal, addresses and ids shortened).
KUBELET_API_TIMEOUT = (
    'Dec 03 15:57:13 worknode2 kubelet[3027]: E1203 15:57:13.375193 3027 controller.go:187] '
    'failed to update lease, error: Put "https://192.168.100.10:6443/apis/coordination.k8s.io/v1/'
    'namespaces/kube-node-lease/leases/worknode2?timeout=10s": dial tcp 192.168.100.10:6443: '
    'i/o timeout')
KUBELET_CRI_DIAL = (
    'Dec 03 15:56:41 worknode2 kubelet[3027]: W1203 15:56:41.216107 3027 clientconn.go:1223] grpc: '
    'addrConn.createTransport failed to connect to {/run/containerd/containerd.sock  <nil> 0 '
    '<nil>}. Err :connection error: desc = "transport: Error while dialing dial unix '
    '/run/containerd/containerd.sock: connect: connection refused". Reconnecting...')


def _journal(text: str):
    def mutate(probe: dict[str, Any]) -> None:
        probe["logs"]["journal"] = text
    return mutate


def test_an_api_timeout_while_the_master_rebooted_is_history_not_a_master_ip_change() -> None:
    """apiserver-cert-wrong-ip's weak pattern (`dial tcp ...:6443: i/o timeout`) named
    master-ip-change, a cluster rebuild, on a worker whose master had rebooted and answers now."""
    found = by_check(doctor("worknode2", mutate=_journal(KUBELET_API_TIMEOUT)))
    wrong_ip = found["log:apiserver-cert-wrong-ip"]
    assert (wrong_ip["severity"], wrong_ip["step"], wrong_ip["command"]) == ("info", None, None)
    assert "reads the cluster now: history" in wrong_ip["message"]
    # the API not answering in this run: the repair is still named
    down = {"available": False, "kubeconfig_present": True, "now": NOW, "reason": "timeout"}
    assert by_check(doctor("worknode2", down, _journal(KUBELET_API_TIMEOUT)))[
        "log:apiserver-cert-wrong-ip"]["step"] == "master-ip-change"
    # the certificate naming other addresses is not mere silence of the port
    x509 = ("Dec 03 15:57:13 worknode2 kubelet[3027]: Unable to connect to the server: x509: "
            "certificate is valid for 10.0.0.5, 10.96.0.1, not 192.168.100.10")
    assert by_check(doctor("worknode2", mutate=_journal(x509)))[
        "log:apiserver-cert-wrong-ip"]["step"] == "master-ip-change"


def test_failed_dials_to_containerd_are_history_while_it_runs_and_the_node_is_ready() -> None:
    """containerd restarted (a join's CNI change does it) leaves kubelet's failed dials in the
    journal: critical before, on a healthy node of the real containerd cluster."""
    found = by_check(doctor("worknode1", mutate=_journal(KUBELET_CRI_DIAL),
                            container_runtime="containerd"))
    cri = found["log:containerd-cri-unavailable"]
    assert (cri["severity"], cri["command"]) == ("info", None), cri
    assert "the runtime runs now and the node is Ready: history" in cri["message"]
    # containerd down now: critical again
    stopped = _all(_journal(KUBELET_CRI_DIAL), _set("services|containerd", {
        "installed": True, "active": False, "state": "failed failed"}))
    assert by_check(doctor("worknode1", mutate=stopped, container_runtime="containerd"))[
        "log:containerd-cri-unavailable"]["severity"] == "critical"
    # the node NotReady (kubelet cannot use the runtime): critical
    view = cluster_view()
    for node in view["nodes"]["items"]:
        if node["metadata"]["name"] == "worknode1":
            for cond in node["status"]["conditions"]:
                if cond["type"] == "Ready":
                    cond.update(status="False", reason="KubeletNotReady")
    assert by_check(doctor("worknode1", view, _journal(KUBELET_CRI_DIAL),
                           container_runtime="containerd"))[
        "log:containerd-cri-unavailable"]["severity"] == "critical"


def test_a_pod_being_deleted_is_not_a_failing_container() -> None:
    """A rollout is done once the new pods are available, which can be before an old pod that
    never started is gone: found on the real cluster after recover job-path (the replaced
    job manager pod, terminating, still waiting on ErrImageNeverPull)."""
    image = "registry.local:5000/jobs/runner:2"
    terminating = _never_pulled(image, "jobmanager")
    terminating["metadata"]["deletionTimestamp"] = "2026-12-03T17:48:12Z"
    view = cluster_view()
    view["pods"] = {"items": [terminating]}
    found = doctor("worknode1", view=view, job_services=["default/jobmanager"])
    assert not [f for f in found if f["check"] in ("job-services", "pod-image-pull")], found
