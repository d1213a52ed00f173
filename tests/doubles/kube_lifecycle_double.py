#!/usr/bin/env python3
"""TEST DOUBLE for kubeadm, kubelet and kubectl (Kubernetes server binaries cannot run here).

Lives only under tests/. A lab test installs it on nodes as /usr/bin/kubeadm, /usr/bin/kubectl
and /usr/local/bin/kubelet-double (run by a kubelet.service unit, as the kubelet package would).
It behaves like the real tools where kubemedic depends on it, and is strict:

* every kubeadm config it reads is validated like `kubeadm config validate` would, plus the
  kubemedic contract: unknown fields, a missing imageRepository, a kubernetesVersion not like
  v1.28.2, bad CIDRs/addresses, wrong kubeletExtraArgs shape for the API version -> exit 1;
* `kubeadm init` refuses to run when /etc/kubernetes still holds a cluster (preflight
  FileAvailable), and fails like an air-gapped kubeadm when an image is neither in the node's
  docker nor in the private registry (no internet pull);
* `kubeadm reset -f` removes what the real one removes and nothing more (CNI config, iptables
  and /var/lib/kubelet mounts are left for kubemedic to clean);
* the kubelet double serves a tiny API on :6443 on a master once the static-pod manifests
  exist; `kubeadm join` registers the node there with a bootstrap token from `kubeadm token
  create` (wrong token -> refused); kubectl get/drain/delete/apply talk to that API.

Every call is appended as one JSON line to $KUBE_DOUBLE_LOG (default
/var/log/kube-double/calls.jsonl): {"tool", "argv", "event", "time"} so tests assert the order.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOG = os.environ.get("KUBE_DOUBLE_LOG", "/var/log/kube-double/calls.jsonl")
ETC = os.environ.get("KUBE_DOUBLE_ETC", "/etc/kubernetes")
STATE = os.environ.get("KUBE_DOUBLE_STATE", "/var/lib/kube-double")
KUBELET_DIR = "/var/lib/kubelet"
VERSION = os.environ.get("KUBE_DOUBLE_VERSION", "v1.28.2")

# minor -> (pause, etcd, coredns) as kubeadm defaults them.
DEFAULT_TAGS = {27: ("3.9", "3.5.7-0", "v1.10.1"), 28: ("3.9", "3.5.9-0", "v1.10.1"),
                29: ("3.9", "3.5.10-0", "v1.11.1"), 30: ("3.9", "3.5.12-0", "v1.11.1"),
                31: ("3.10", "3.5.15-0", "v1.11.3")}

NODE_REG = {"name", "criSocket", "taints", "kubeletExtraArgs", "ignorePreflightErrors",
            "imagePullPolicy"}
FIELDS = {
    "InitConfiguration": {"apiVersion", "kind", "bootstrapTokens", "nodeRegistration",
                          "localAPIEndpoint", "certificateKey", "skipPhases", "patches"},
    "ClusterConfiguration": {"apiVersion", "kind", "etcd", "networking", "kubernetesVersion",
                             "controlPlaneEndpoint", "apiServer", "controllerManager",
                             "scheduler", "dns", "certificatesDir", "imageRepository",
                             "featureGates", "clusterName"},
    "JoinConfiguration": {"apiVersion", "kind", "nodeRegistration", "caCertPath", "discovery",
                          "controlPlane", "skipPhases", "patches"},
}
V1BETA4_EXTRA = {"InitConfiguration": {"dryRun", "timeouts"},
                 "ClusterConfiguration": {"proxy", "encryptionAlgorithm",
                                          "certificateValidityPeriod",
                                          "caCertificateValidityPeriod"},
                 "JoinConfiguration": {"dryRun", "timeouts"}}


class Refused(Exception):
    pass


def log(tool: str, argv: list[str], event: str = "call", **extra) -> None:
    os.makedirs(os.path.dirname(LOG), exist_ok=True)
    with open(LOG, "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"tool": tool, "argv": argv, "event": event,
                                 "time": time.time(), **extra}) + "\n")


def _unknown(where: str, data: dict, allowed: set[str]) -> None:
    extra = sorted(set(data) - allowed)
    if extra:
        raise Refused(f"{where}: unknown field(s) {extra}")


def _ip(where: str, value) -> None:
    try:
        ipaddress.ip_address(str(value))
    except ValueError as exc:
        raise Refused(f"{where}: {value!r} is not an IP address") from exc


def _cidr(where: str, value) -> None:
    try:
        ipaddress.ip_network(str(value), strict=True)
    except ValueError as exc:
        raise Refused(f"{where}: {value!r} is not a CIDR") from exc


def _node_registration(api: str, data: dict) -> None:
    allowed = NODE_REG | ({"imagePullSerial"} if api == "v1beta4" else set())
    _unknown("nodeRegistration", data, allowed)
    args = data.get("kubeletExtraArgs")
    if args is not None:
        if api == "v1beta4":
            if not isinstance(args, list) or any(set(a) != {"name", "value"} for a in args):
                raise Refused("nodeRegistration.kubeletExtraArgs: v1beta4 wants [{name, value}]")
        elif not isinstance(args, dict):
            raise Refused("nodeRegistration.kubeletExtraArgs: v1beta3 wants a string map")
    if data.get("imagePullPolicy", "IfNotPresent") not in ("Always", "IfNotPresent", "Never"):
        raise Refused("nodeRegistration.imagePullPolicy: Always|IfNotPresent|Never")
    sock = data.get("criSocket", "")
    if sock and not str(sock).startswith("unix:///"):
        raise Refused(f"nodeRegistration.criSocket {sock!r}: must be a unix:/// URL")


def _endpoint(where: str, data: dict) -> None:
    _unknown(where, data, {"advertiseAddress", "bindPort"})
    _ip(f"{where}.advertiseAddress", data.get("advertiseAddress"))
    if not isinstance(data.get("bindPort", 6443), int):
        raise Refused(f"{where}.bindPort: not an integer")


def load_config(path: str) -> dict[str, dict]:
    import yaml

    try:
        with open(path, encoding="utf-8") as handle:
            docs = [d for d in yaml.safe_load_all(handle) if d]
    except (OSError, yaml.YAMLError) as exc:
        raise Refused(f"{path}: {exc}") from exc
    found: dict[str, dict] = {}
    for doc in docs:
        api, kind = doc.get("apiVersion", ""), doc.get("kind", "")
        if kind == "KubeletConfiguration":
            if api != "kubelet.config.k8s.io/v1beta1":
                raise Refused(f"KubeletConfiguration: apiVersion {api!r}")
            if doc.get("cgroupDriver") not in ("systemd", "cgroupfs"):
                raise Refused(f"KubeletConfiguration.cgroupDriver: {doc.get('cgroupDriver')!r}")
        elif kind in FIELDS:
            match = re.fullmatch(r"kubeadm\.k8s\.io/(v1beta3|v1beta4)", api)
            if not match:
                raise Refused(f"{kind}: apiVersion {api!r} is not kubeadm.k8s.io/v1beta3|v1beta4")
            version = match.group(1)
            allowed = FIELDS[kind] | (V1BETA4_EXTRA[kind] if version == "v1beta4" else set())
            _unknown(kind, doc, allowed)
            if "nodeRegistration" in doc:
                _node_registration(version, doc["nodeRegistration"])
            if kind == "InitConfiguration" and "localAPIEndpoint" in doc:
                _endpoint("localAPIEndpoint", doc["localAPIEndpoint"])
        else:
            raise Refused(f"unknown kind {kind!r} ({api!r})")
        if kind in found:
            raise Refused(f"{kind} given twice")
        found[kind] = doc
    cluster = found.get("ClusterConfiguration")
    if cluster is not None:
        if not re.fullmatch(r"v\d+\.\d+\.\d+", str(cluster.get("kubernetesVersion", ""))):
            raise Refused(f"ClusterConfiguration.kubernetesVersion "
                          f"{cluster.get('kubernetesVersion')!r} is not like v1.28.2")
        if not cluster.get("imageRepository"):
            raise Refused("ClusterConfiguration.imageRepository missing: kubeadm would pull "
                          "from registry.k8s.io (air-gapped: never)")
        net = cluster.get("networking") or {}
        _unknown("networking", net, {"serviceSubnet", "podSubnet", "dnsDomain"})
        for key in ("podSubnet", "serviceSubnet"):
            if key in net:
                _cidr(f"networking.{key}", net[key])
        _unknown("dns", cluster.get("dns") or {}, {"imageRepository", "imageTag", "disabled"})
        endpoint = cluster.get("controlPlaneEndpoint", "")
        if endpoint and not re.fullmatch(r"[A-Za-z0-9.\-]+:\d+", str(endpoint)):
            raise Refused(f"controlPlaneEndpoint {endpoint!r} is not host:port")
    join = found.get("JoinConfiguration")
    if join is not None:
        disc = join.get("discovery") or {}
        _unknown("discovery", disc, {"bootstrapToken", "file", "tlsBootstrapToken", "timeout"})
        token = disc.get("bootstrapToken") or {}
        _unknown("discovery.bootstrapToken", token,
                 {"token", "apiServerEndpoint", "caCertHashes", "unsafeSkipCAVerification"})
        if not re.fullmatch(r"[a-z0-9]{6}\.[a-z0-9]{16}", str(token.get("token", ""))):
            raise Refused("discovery.bootstrapToken.token is not a bootstrap token")
        hashes = token.get("caCertHashes") or []
        if not hashes or not all(re.fullmatch(r"sha256:[0-9a-f]{64}", str(h)) for h in hashes):
            raise Refused("discovery.bootstrapToken.caCertHashes: sha256:<64 hex> needed")
        if "controlPlane" in join:
            plane = join["controlPlane"]
            _unknown("controlPlane", plane, {"localAPIEndpoint", "certificateKey"})
            _endpoint("controlPlane.localAPIEndpoint", plane.get("localAPIEndpoint") or {})
            if not re.fullmatch(r"[0-9a-f]{64}", str(plane.get("certificateKey", ""))):
                raise Refused("controlPlane.certificateKey is not 64 hex characters")
    return found


def images(cluster: dict) -> list[str]:
    version = cluster["kubernetesVersion"]
    minor = int(version.split(".")[1])
    if minor not in DEFAULT_TAGS:
        raise Refused(f"this double knows kubeadm image tags for 1.{sorted(DEFAULT_TAGS)}")
    pause, etcd, coredns = DEFAULT_TAGS[minor]
    repo = cluster["imageRepository"]
    dns_repo = (cluster.get("dns") or {}).get("imageRepository") or repo
    out = [f"{repo}/{name}:{version}" for name in
           ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy")]
    out += [f"{dns_repo}/coredns:{coredns}", f"{repo}/pause:{pause}", f"{repo}/etcd:{etcd}"]
    return out


def option(argv: list[str], name: str, default: str | None = None) -> str | None:
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return default


def image_present(ref: str) -> bool:
    if subprocess.run(["docker", "image", "inspect", ref], capture_output=True,
                      check=False).returncode == 0:
        return True
    host, _, rest = ref.partition("/")
    name, _, tag = rest.rpartition(":")
    request = urllib.request.Request(f"http://{host}/v2/{name}/manifests/{tag}", method="HEAD",
                                     headers={"Accept": "application/vnd.docker.distribution."
                                                        "manifest.v2+json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _write(path: str, text: str, mode: int = 0o600) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, mode)


def _kubeconfig(server: str, user: str) -> str:
    return (f"apiVersion: v1\nkind: Config\nclusters:\n- name: kubernetes\n  cluster:\n"
            f"    server: {server}\ncontexts:\n- name: {user}@kubernetes\n  context:\n"
            f"    cluster: kubernetes\n    user: {user}\ncurrent-context: {user}@kubernetes\n"
            f"users:\n- name: {user}\n  user:\n    token: double-{secrets.token_hex(8)}\n")


def _server_of(kubeconfig: str) -> str:
    with open(kubeconfig, encoding="utf-8") as handle:
        match = re.search(r"server:\s*https?://(\S+)", handle.read())
    if not match:
        raise Refused(f"{kubeconfig}: no server")
    return "http://" + match.group(1)


def api(method: str, server: str, path: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(server + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        raise Refused(f"API {method} {path}: {exc.code} {exc.read().decode()}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise Refused(f"The connection to the server {server} was refused: {exc}") from exc


def _restart_kubelet() -> None:
    subprocess.run(["systemctl", "restart", "kubelet"], check=False)


def _tokens_file() -> str:
    return os.path.join(STATE, "tokens.json")


def _load(path: str, default):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return default


def _save(path: str, data) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # A temporary name per writer: with one shared name, a second writer's os.replace found the
    # file already moved (FileNotFoundError, the request answered with a closed connection).
    temporary = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    os.replace(temporary, path)


# The API serves each request in its own thread (two nodes join in the same task) and every
# handler loads, changes and saves nodes.json: one at a time, or a join is lost or crashes.
_STATE_LOCK = threading.Lock()


def _one_at_a_time(handler):
    def locked(self) -> None:
        with _STATE_LOCK:
            handler(self)
    return locked


def _ca_hash() -> str:
    with open(os.path.join(ETC, "pki", "ca.crt"), "rb") as handle:
        return "sha256:" + hashlib.sha256(handle.read()).hexdigest()


def kubeadm(argv: list[str]) -> int:
    log("kubeadm", argv)
    words = [a for a in argv if not a.startswith("-")]
    config = option(argv, "--config")
    if argv[:1] == ["version"]:
        print(VERSION)
        return 0
    if words[:2] == ["config", "validate"]:
        if "--help" in argv:
            print("Usage: kubeadm config validate [flags]")
            return 0
        load_config(config)
        print("ok")
        return 0
    if words[:3] == ["config", "images", "list"]:
        print("\n".join(images(load_config(config)["ClusterConfiguration"])))
        return 0
    if words[:1] == ["init"] and words[1:3] != ["phase", "upload-certs"]:
        return kubeadm_init(argv, config)
    if words[:3] == ["init", "phase", "upload-certs"]:
        load_config(config)
        if not os.path.exists(os.path.join(ETC, "admin.conf")):
            raise Refused("upload-certs: no cluster here")
        key = secrets.token_hex(32)
        state = _load(_tokens_file(), {})
        state.setdefault("certificate_keys", []).append(key)
        _save(_tokens_file(), state)
        print("[upload-certs] Storing the certificates in Secret \"kubeadm-certs\"")
        print("[upload-certs] Using certificate key:")
        print(key)
        return 0
    if words[:2] == ["token", "create"]:
        if not os.path.exists(os.path.join(ETC, "admin.conf")):
            raise Refused("failed to load admin kubeconfig: no cluster here")
        token = f"{secrets.token_hex(3)}.{secrets.token_hex(8)}"
        state = _load(_tokens_file(), {})
        state.setdefault("tokens", []).append(token)
        _save(_tokens_file(), state)
        log("kubeadm", argv, "token-created")
        server = _server_of(os.path.join(ETC, "admin.conf")).split("//", 1)[1]
        print(f"kubeadm join {server} --token {token} --discovery-token-ca-cert-hash {_ca_hash()}")
        return 0
    if words[:1] == ["join"]:
        return kubeadm_join(argv, config)
    if words[:1] == ["reset"]:
        return kubeadm_reset(argv)
    raise Refused(f"kubeadm double: unsupported call {argv}")


def kubeadm_init(argv: list[str], config: str | None) -> int:
    if not config:
        raise Refused("kubemedic always passes --config")
    docs = load_config(config)
    init, cluster = docs.get("InitConfiguration"), docs.get("ClusterConfiguration")
    if not init or not cluster:
        raise Refused("init needs InitConfiguration and ClusterConfiguration")
    leftovers = [p for p in ("manifests/kube-apiserver.yaml", "admin.conf", "kubelet.conf")
                 if os.path.exists(os.path.join(ETC, p))]
    if leftovers:
        log("kubeadm", argv, "init-refused-leftovers", leftovers=leftovers)
        raise Refused(f"[preflight] FileAvailable: {leftovers} already exist (kubeadm reset first)")
    missing = [ref for ref in images(cluster) if not image_present(ref)]
    if missing:
        log("kubeadm", argv, "init-pull-failed", missing=missing)
        raise Refused("[ERROR ImagePull]: failed to pull image " + ", ".join(missing)
                      + ": dial tcp: i/o timeout (air-gapped)")
    address = init["localAPIEndpoint"]["advertiseAddress"]
    port = init["localAPIEndpoint"].get("bindPort", 6443)
    endpoint = cluster.get("controlPlaneEndpoint") or f"{address}:{port}"
    driver = (docs.get("KubeletConfiguration") or {}).get("cgroupDriver", "systemd")
    _write(os.path.join(ETC, "pki", "ca.crt"), f"double CA {secrets.token_hex(16)}\n", 0o644)
    _write(os.path.join(ETC, "pki", "etcd", "ca.crt"), "double etcd CA\n", 0o644)
    for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"):
        image = f"{cluster['imageRepository']}/{name}:{cluster['kubernetesVersion']}"
        _write(os.path.join(ETC, "manifests", f"{name}.yaml"),
               f"# static pod (double)\nimage: {image}\nadvertiseAddress: {address}\n"
               f"port: {port}\n", 0o600)
    _write(os.path.join(ETC, "admin.conf"), _kubeconfig(f"https://{endpoint}", "kubernetes-admin"))
    _write(os.path.join(ETC, "kubelet.conf"), _kubeconfig(f"https://{endpoint}", "system:node"))
    _write(os.path.join(KUBELET_DIR, "config.yaml"),
           f"apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
           f"cgroupDriver: {driver}\n", 0o644)
    _write(os.path.join(KUBELET_DIR, "kubeadm-flags.env"), "KUBELET_KUBEADM_ARGS=\"\"\n", 0o644)
    _save(_tokens_file(), {"tokens": [], "certificate_keys": []})
    _save(os.path.join(STATE, "nodes.json"), {})
    log("kubeadm", argv, "init-done", images=images(cluster))
    _restart_kubelet()
    print("Your Kubernetes control-plane has initialized successfully!")
    return 0


def kubeadm_join(argv: list[str], config: str | None) -> int:
    if not config:
        raise Refused("kubemedic always passes --config")
    join = load_config(config).get("JoinConfiguration")
    if not join:
        raise Refused("join needs a JoinConfiguration")
    if os.path.exists(os.path.join(ETC, "kubelet.conf")):
        raise Refused("[preflight] FileAvailable--etc-kubernetes-kubelet.conf: already joined")
    token = join["discovery"]["bootstrapToken"]
    server = "http://" + token["apiServerEndpoint"]
    name = (join.get("nodeRegistration") or {}).get("name") or os.uname().nodename
    plane = join.get("controlPlane")
    api("PUT", server, f"/nodes/{name}", {"token": token["token"],
                                          "caCertHash": token["caCertHashes"][0],
                                          "certificateKey": (plane or {}).get("certificateKey"),
                                          "controlPlane": bool(plane)})
    _write(os.path.join(ETC, "kubelet.conf"),
           _kubeconfig(f"https://{token['apiServerEndpoint']}", f"system:node:{name}"))
    _write(os.path.join(ETC, "pki", "ca.crt"), "double CA (joined)\n", 0o644)
    _write(os.path.join(KUBELET_DIR, "config.yaml"), "kind: KubeletConfiguration\n", 0o644)
    log("kubeadm", argv, "join-done", node=name, control_plane=bool(plane))
    _restart_kubelet()
    print("This node has joined the cluster")
    return 0


def kubeadm_reset(argv: list[str]) -> int:
    if "-f" not in argv and "--force" not in argv:
        raise Refused("[reset] Are you sure? (kubemedic must pass -f: no terminal)")
    subprocess.run(["systemctl", "stop", "kubelet"], check=False)
    removed = []
    for sub in ("manifests", "pki"):
        path = os.path.join(ETC, sub)
        if os.path.isdir(path):
            shutil.rmtree(path)
            removed.append(path)
    for name in ("admin.conf", "super-admin.conf", "kubelet.conf", "bootstrap-kubelet.conf",
                 "controller-manager.conf", "scheduler.conf"):
        path = os.path.join(ETC, name)
        if os.path.exists(path):
            os.remove(path)
            removed.append(path)
    if os.path.isdir(KUBELET_DIR):  # contents, like the real one; mounts make it fail softly
        for entry in os.listdir(KUBELET_DIR):
            path = os.path.join(KUBELET_DIR, entry)
            if os.path.ismount(path) or any(os.path.ismount(os.path.join(r, d))
                                            for r, ds, _ in os.walk(path) for d in ds):
                continue
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
    shutil.rmtree(STATE, ignore_errors=True)
    log("kubeadm", argv, "reset-done", removed=removed)
    print("The reset process does not clean CNI configuration. To do so, you must remove "
          "/etc/cni/net.d\nThe reset process does not reset or clean up iptables rules or IPVS "
          "tables.")
    return 0


class ApiHandler(BaseHTTPRequestHandler):
    def _reply(self, code: int, body) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass

    @_one_at_a_time
    def do_GET(self) -> None:
        nodes = _load(os.path.join(STATE, "nodes.json"), {})
        if self.path in ("/readyz", "/healthz", "/livez"):
            self._reply(200, "ok")
        elif self.path == "/nodes":
            self._reply(200, nodes)
        elif self.path.startswith("/nodes/"):
            name = self.path.split("/", 2)[2]
            self._reply(200, nodes[name]) if name in nodes else self._reply(404, "not found")
        else:
            self._reply(404, "not found")

    def _body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}")

    @_one_at_a_time
    def do_PUT(self) -> None:
        name = self.path.split("/", 2)[2]
        body = self._body()
        state = _load(_tokens_file(), {})
        nodes = _load(os.path.join(STATE, "nodes.json"), {})
        if body.get("self"):
            pass  # the master's own kubelet registering
        elif body.get("token") not in state.get("tokens", []):
            return self._reply(401, "bootstrap token unknown or expired")
        elif body.get("caCertHash") != _ca_hash():
            return self._reply(403, "cluster CA doesn't match the discovery hash")
        elif body.get("controlPlane") and body.get("certificateKey") not in state.get(
                "certificate_keys", []):
            return self._reply(403, "certificate key unknown: kubeadm-certs secret not found")
        nodes[name] = {"unschedulable": False, "controlPlane": bool(body.get("controlPlane"))}
        _save(os.path.join(STATE, "nodes.json"), nodes)
        self._reply(200, nodes[name])

    @_one_at_a_time
    def do_PATCH(self) -> None:
        name = self.path.split("/", 2)[2]
        nodes = _load(os.path.join(STATE, "nodes.json"), {})
        if name not in nodes:
            return self._reply(404, "not found")
        nodes[name].update(self._body())
        _save(os.path.join(STATE, "nodes.json"), nodes)
        self._reply(200, nodes[name])

    @_one_at_a_time
    def do_DELETE(self) -> None:
        name = self.path.split("/", 2)[2]
        nodes = _load(os.path.join(STATE, "nodes.json"), {})
        existed = nodes.pop(name, None) is not None
        _save(os.path.join(STATE, "nodes.json"), nodes)
        self._reply(200 if existed else 404, "deleted" if existed else "not found")


def kubelet(argv: list[str]) -> int:
    """Run by kubelet.service: on a master with static pods, serve the API; else idle."""
    log("kubelet", argv, "start")
    manifest = os.path.join(ETC, "manifests", "kube-apiserver.yaml")
    if not os.path.exists(manifest):
        while True:
            time.sleep(3600)
    with open(manifest, encoding="utf-8") as handle:
        text = handle.read()
    address = re.search(r"advertiseAddress: (\S+)", text).group(1)
    port = int(re.search(r"port: (\d+)", text).group(1))
    server = ThreadingHTTPServer((address, port), ApiHandler)
    nodes = _load(os.path.join(STATE, "nodes.json"), {})
    nodes.setdefault(os.uname().nodename, {"unschedulable": False, "controlPlane": True})
    _save(os.path.join(STATE, "nodes.json"), nodes)
    server.serve_forever()
    return 0


def kubectl(argv: list[str]) -> int:
    log("kubectl", argv)
    config = option(argv, "--kubeconfig", os.path.join(ETC, "admin.conf"))
    rest, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in ("--kubeconfig", "-n", "--namespace", "-f", "-o"):
            skip = True
            continue
        if not arg.startswith("-"):
            rest.append(arg)
    server = _server_of(config)
    if rest[:1] == ["apply"]:
        import yaml

        path = option(argv, "-f")
        with open(path, encoding="utf-8") as handle:
            docs = [d for d in yaml.safe_load_all(handle) if d]
        with open(path, "rb") as handle:
            digest = hashlib.sha256(handle.read()).hexdigest()
        marker = os.path.join(STATE, "applied-" + hashlib.sha256(path.encode()).hexdigest())
        seen = _load(marker, "")
        _save(marker, digest)
        api("GET", server, "/readyz")
        verb = "unchanged" if seen == digest else ("configured" if seen else "created")
        for doc in docs:
            print(f"{doc['kind'].lower()}/{doc['metadata']['name']} {verb}")
        log("kubectl", argv, "applied", verb=verb)
        return 0
    if rest[:2] in (["get", "node"], ["get", "nodes"]) and len(rest) > 2:
        api("GET", server, f"/nodes/{rest[2]}")
        print(f"node/{rest[2]}")
        return 0
    if rest[:2] in (["get", "node"], ["get", "nodes"]):
        for name in sorted(api("GET", server, "/nodes")):
            print(name)
        return 0
    if rest[:1] in (["drain"], ["cordon"]):
        api("PATCH", server, f"/nodes/{rest[1]}", {"unschedulable": True})
        log("kubectl", argv, "drained" if rest[0] == "drain" else "cordoned", node=rest[1])
        print(f"node/{rest[1]} {rest[0]}ed")
        return 0
    if rest[:2] == ["delete", "node"]:
        try:
            api("DELETE", server, f"/nodes/{rest[2]}")
        except Refused:
            if "--ignore-not-found" not in argv:
                raise
        log("kubectl", argv, "node-deleted", node=rest[2])
        print(f'node "{rest[2]}" deleted')
        return 0
    raise Refused(f"kubectl double: unsupported call {argv}")


def main() -> int:
    tool = os.path.basename(sys.argv[0])
    args = sys.argv[1:]
    if tool.endswith(".py") and args:
        tool, args = args[0], args[1:]
    try:
        if tool == "kubeadm":
            return kubeadm(args)
        if tool == "kubectl":
            return kubectl(args)
        if tool in ("kubelet", "kubelet-double"):
            return kubelet(args)
        raise Refused(f"unknown tool {tool}")
    except Refused as exc:
        log(tool, args, "error", message=str(exc))
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
