"""doctor's security checks (issue 20): the classic exposures real cluster compromises start from.

Input: the node's `security` probe (plugins/modules/kubemedic_security_probe.py) and, when doctor
could test it, `exposure` (plugins/modules/kubemedic_tcp_reach.py run on a host outside the
cluster subnet: the lab's outside node, or `doctor_exposure_from`): which listening ports
answered from there. Without that test, exposure is judged from the live kubemedic nftables
table (absent: every port bound beyond loopback is exposed; default-deny: only the ports its
`public_tcp` set admits; named-ports: every port but its `protected_tcp` set).

A weak service reachable from outside the cluster subnet is critical; closed to the outside it is
a warning (anyone inside the cluster, a pod included, can still use it). Each finding names the
repair that closes it: a recovery step for the weak setting, the firewall tag where the setting
is the documented design (an unauthenticated registry the nodes pull from) and only exposure is
wrong.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from kubemedic import firewall

# Bootstrap tags and recovery steps named by these checks (tests/unit/test_doctor_commands.py
# checks every tag exists in site.yml and every step in recover.yml).
TAG_FIREWALL = "firewall"
TAG_NFS_SERVER = "nfs-server"
STEP_KUBELET = "kubelet-auth"
STEP_APISERVER = "apiserver-insecure-port"
STEP_ETCD = "etcd-client-auth"
STEP_DOCKER = "docker-tcp"
STEP_HOSTS_ALLOW = "hosts-allow"
BOOTSTRAP_FIX = "kubemedic bootstrap -c {customer} --tags %s --limit {host}"

KUBELET_PORT, KUBELET_RO_PORT, APISERVER_INSECURE_PORT = 10250, 10255, 8080
ETCD_CLIENT_PORT, NFS_PORT, RPCBIND_PORT = 2379, 2049, 111
NFS_DAEMONS = {"all", "rpcbind", "portmap", "mountd", "statd", "lockd", "rquotad", "nfsd"}
_WIDE = {"all", "known", "unknown", "paranoid", "local"}


def _loopback(address: str) -> bool:
    if address in ("*", "0.0.0.0", "::", ""):
        return False
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return address == "localhost"


def public_ports(security: dict[str, Any]) -> list[int]:
    """TCP ports the node listens on beyond loopback (what doctor tries from outside)."""
    return sorted({s["port"] for s in security.get("listening") or []
                   if s.get("proto") == "tcp" and not _loopback(str(s.get("address")))})


def _listening(security: dict[str, Any], port: int) -> dict[str, Any] | None:
    candidates = [s for s in security.get("listening") or []
                  if s.get("proto") == "tcp" and s.get("port") == port]
    wide = [s for s in candidates if not _loopback(str(s.get("address")))]
    return (wide or candidates or [None])[0]


def exposure(probe: dict[str, Any], port: int) -> tuple[bool, str]:
    """(reachable from outside the cluster subnet?, how doctor knows)."""
    security = probe.get("security") or {}
    tested = probe.get("exposure") or {}
    if port in (tested.get("tested") or []):
        where = tested.get("from") or "outside"
        if port in (tested.get("reachable") or []):
            return True, f"port {port} answers from {where} (outside the cluster subnet)"
        return False, f"port {port} refused from {where}"
    fw = security.get("firewall") or {}
    if not fw.get("table"):
        return True, f"port {port}: no kubemedic firewall table on this node"
    sets = fw.get("sets") or {}
    if fw.get("mode") == "default-deny":
        if firewall.port_in(port, sets.get("public_tcp") or []):
            return True, f"port {port} admitted from outside by cluster_public_ports"
        return False, f"port {port} closed from outside by the default-deny firewall"
    if firewall.port_in(port, sets.get("protected_tcp") or []):
        return False, f"port {port} protected by the named-ports firewall"
    return True, f"port {port} not protected by the named-ports firewall"


def _inside(token: str, trusted: list[str]) -> bool:
    """Does a client pattern (hosts.allow or /etc/exports) admit only trusted networks?"""
    token = token.strip().strip("[]")
    if not token or token.lower() in _WIDE or any(c in token for c in "*?@") or \
            token[:1] in "/.":
        return False
    if token.endswith("."):
        parts = token.rstrip(".").split(".")
        if not all(p.isdigit() for p in parts) or len(parts) > 4:
            return False
        token = ".".join(parts + ["0"] * (4 - len(parts))) + f"/{8 * len(parts)}"
    if token.lower() == "localhost":
        token = "127.0.0.1"
    try:
        net = ipaddress.ip_network(token, strict=False)
    except ValueError:
        return False  # a host name or netgroup: may be anyone
    for cidr in trusted:
        try:
            other = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            continue
        if net.version == other.version and net.subnet_of(other):  # type: ignore[arg-type]
            return True
    return False


def _severity(exposed: bool) -> str:
    return "critical" if exposed else "warning"


def _flag(values: dict[str, list[str]], name: str) -> str | None:
    found = values.get(name)
    return found[-1] if found else None


def _check_kubelet(add, probe: dict[str, Any]) -> None:
    security = probe["security"]
    kube = security.get("kubelet") or {}
    config = kube.get("config") or {}
    sources: list[tuple[str, dict[str, list[str]]]] = [("running kubelet", kube.get("args") or {})]
    sources += sorted((kube.get("flag_files") or {}).items())
    if not (config.get("exists") or kube.get("running") or any(f for _n, f in sources[1:])):
        return
    anonymous: tuple[Any, str] = (config.get("anonymous"), config.get("path") or "config")
    read_only: tuple[Any, str] = (config.get("read_only_port"), config.get("path") or "config")
    for where, flags in sources:
        if _flag(flags, "anonymous-auth") is not None:
            anonymous = (_flag(flags, "anonymous-auth") == "true", f"{where}: --anonymous-auth")
            break
    for where, flags in sources:
        if _flag(flags, "read-only-port") is not None:
            value = _flag(flags, "read-only-port") or "0"
            read_only = (int(value) if value.isdigit() else value, f"{where}: --read-only-port")
            break
    # A kubelet running without a config file has the flags' defaults (1.20: both open).
    bare = kube.get("running") and not (kube.get("args") or {}).get("config")
    if anonymous[0] is True or (anonymous[0] is None and bare):
        exposed, how = exposure(probe, KUBELET_PORT)
        add("kubelet-anonymous-auth", _severity(exposed), f"{anonymous[1]}: anonymous auth on; "
            f"{how}", "the kubelet API (10250) accepts anonymous requests: anyone who reaches "
            "it can list pods and, with AlwaysAllow authorization, exec into them",
            step=STEP_KUBELET)
    listening = _listening(security, KUBELET_RO_PORT)
    if (read_only[0] not in (None, 0, "0")) or (read_only[0] is None and bare) or listening:
        exposed, how = exposure(probe, KUBELET_RO_PORT)
        evidence = (f"{listening['process'] or 'a process'} listens on "
                    f"{listening['address']}:{KUBELET_RO_PORT}" if listening
                    else f"{read_only[1]}: {read_only[0]}")
        add("kubelet-read-only-port", _severity(exposed), f"{evidence}; {how}",
            "the kubelet's read-only port (10255) serves pods, specs and metrics without any "
            "authentication", step=STEP_KUBELET)


def _check_apiserver(add, probe: dict[str, Any]) -> None:
    security = probe["security"]
    api = security.get("apiserver") or {}
    flags = api.get("args") if api.get("running") else api.get("flags")
    value = _flag(flags or {}, "insecure-port")
    listening = _listening(security, APISERVER_INSECURE_PORT)
    by_apiserver = listening and listening.get("process", "").startswith("kube-apiserver")
    if not (value and value.isdigit() and int(value) > 0) and not by_apiserver:
        return
    port = int(value) if value and value.isdigit() and int(value) > 0 else APISERVER_INSECURE_PORT
    bind = _flag(flags or {}, "insecure-bind-address") or "127.0.0.1"
    sock = _listening(security, port)
    if sock and not _loopback(str(sock.get("address"))):
        exposed, how = exposure(probe, port)
    elif sock or _loopback(bind):
        exposed, how = False, f"bound to {bind} (any local process or pod with host network)"
    else:
        exposed, how = exposure(probe, port)
    where = "running kube-apiserver" if api.get("running") else api.get("manifest")
    add("apiserver-insecure-port", _severity(exposed),
        f"{where}: --insecure-port={value or port} --insecure-bind-address={bind}; {how}",
        "the API server's insecure port serves the whole API without authentication or "
        "authorization (cluster admin for anyone reaching it)", step=STEP_APISERVER)


def _check_etcd(add, probe: dict[str, Any]) -> None:
    security = probe["security"]
    etcd = security.get("etcd") or {}
    settings = etcd.get("settings") or {}
    if not etcd.get("source"):
        return
    urls = [u.strip() for u in (settings.get("listen-client-urls")
                                or "http://localhost:2379").split(",") if u.strip()]
    cert_auth = str(settings.get("client-cert-auth", "false")).lower() == "true"
    wide = []
    for url in urls:
        match = re.match(r"^(https?)://\[?([^\]/]*?)\]?:(\d+)", url)
        if match and not _loopback(match.group(2)):
            wide.append((match.group(1), match.group(2), int(match.group(3))))
    if not wide:
        return
    scheme, address, port = wide[0]
    exposed, how = exposure(probe, port)
    source = etcd["source"]
    if scheme == "http" or not cert_auth:
        what = "plain http" if scheme == "http" else "https without --client-cert-auth"
        add("etcd-client-auth", _severity(exposed),
            f"{source}: listen-client-urls {','.join(urls)}, {what}; {how}",
            "etcd serves clients beyond loopback without client certificates: whoever reaches "
            f"{address}:{port} reads and writes every secret of the cluster", step=STEP_ETCD)
    elif exposed and address in ("0.0.0.0", "::", "*"):
        add("etcd-exposed", "critical", f"{source}: listen-client-urls {','.join(urls)}; {how}",
            "etcd listens on every address and the firewall does not close it from outside the "
            "cluster (client certificates are on: still an attack surface for etcd's own "
            "bugs)", fix=BOOTSTRAP_FIX % TAG_FIREWALL)


def _check_registry(add, probe: dict[str, Any]) -> None:
    security = probe["security"]
    reg = security.get("registry") or {}
    if not reg.get("exists") or reg.get("auth"):
        return
    host, _, port = str(reg.get("addr") or ":5000").rpartition(":")
    if not port.isdigit() or (host and _loopback(host.strip("[]"))):
        return
    if not (reg.get("running") or _listening(security, int(port))):
        return
    exposed, how = exposure(probe, int(port))
    if exposed:
        add("registry-no-auth", "critical", f"{reg['config']}: http.addr {reg['addr']}, no auth "
            f"section; {how}", "the private registry accepts pulls and pushes from anyone "
            "reaching it (no authentication): an outsider can replace the images the cluster "
            "runs. Inside the cluster this is the documented design (nodes pull without "
            "credentials; registry_auth: true adds htpasswd); the firewall closes it from "
            "outside", fix=BOOTSTRAP_FIX % TAG_FIREWALL)


def _check_docker(add, probe: dict[str, Any]) -> None:
    docker = probe["security"].get("docker") or {}
    hosts = docker.get("tcp_hosts") or []
    if not hosts or docker.get("tls"):
        return
    match = re.match(r"^tcp://\[?([^\]]*?)\]?(?::(\d+))?$", hosts[0])
    address = match.group(1) if match else ""
    port = int(match.group(2)) if match and match.group(2) else 2375
    exposed, how = ((False, f"bound to {address}") if _loopback(address)
                    else exposure(probe, port))
    add("docker-tcp", _severity(exposed), f"dockerd -H {', '.join(hosts)} without --tlsverify "
        f"({', '.join(docker.get('sources') or ['command line'])}); {how}",
        "docker's API on TCP without TLS is root on the node for anyone reaching it "
        "(`docker -H tcp://... run --privileged -v /:/host`)", step=STEP_DOCKER)


def _export_problems(line: str, trusted: list[str]) -> list[str]:
    parts = line.split()
    found = []
    for client in parts[1:] if len(parts) > 1 else ["*"]:
        name, _, options = client.partition("(")
        opts = options.rstrip(")").split(",")
        if name in ("", "*"):
            found.append(f"{client} exports to everyone")
        elif "no_root_squash" in opts and not _inside(name, trusted):
            found.append(f"{client}: no_root_squash to {name}, outside the cluster")
    return found


def _check_exports(add, probe: dict[str, Any], trusted: list[str]) -> None:
    for number, line in probe["security"].get("exports") or []:
        problems = _export_problems(line, trusted)
        if problems:
            exposed, how = exposure(probe, NFS_PORT)
            add("nfs-exports-open", _severity(exposed), f"/etc/exports:{number}: {line}; "
                f"{'; '.join(problems)}; {how}", "an NFS export admits more than the cluster "
                "(root on the share for whoever mounts it with no_root_squash); bootstrap "
                "rewrites /etc/exports from the inventory (nfs_server_exports)",
                fix=BOOTSTRAP_FIX % TAG_NFS_SERVER)


def _check_hosts_allow(add, probe: dict[str, Any], trusted: list[str]) -> None:
    # the node itself too: statd and mountd register with rpcbind over loopback (tcp_wrappers)
    trusted = [*trusted, "127.0.0.0/8", "::1/128"]
    for number, line in probe["security"].get("hosts_allow") or []:
        rule = line.split("#", 1)[0]
        fields = re.split(r":(?![^\[]*\])", rule)
        if len(fields) < 2:
            continue
        daemons = {d.lower() for d in re.split(r"[\s,]+", fields[0].split(" EXCEPT ")[0]) if d}
        if not daemons & NFS_DAEMONS or any(f.strip().lower() == "deny" for f in fields[2:]):
            continue
        clients = [c for c in re.split(r"[\s,]+", re.split(r"\bEXCEPT\b", fields[1])[0]) if c]
        wide = [c for c in clients if not _inside(c, trusted)]
        if wide:
            exposed, how = exposure(probe, RPCBIND_PORT)
            add("hosts-allow-open", _severity(exposed), f"/etc/hosts.allow:{number}: {line}; "
                f"{how}", f"hosts.allow admits {', '.join(wide)} to "
                f"{', '.join(sorted(daemons))}: more than the cluster (seed 000 #6)",
                step=STEP_HOSTS_ALLOW)


def check(add, probe: dict[str, Any], trusted: list[str]) -> None:
    """Every security check of one node; `add(check, severity, evidence, message, step=, fix=)`
    records a finding, `trusted` are the cluster's own networks (subnet, dev-box, pods,
    services)."""
    if not probe.get("security"):
        return  # not collected (doctor_security: false)
    _check_kubelet(add, probe)
    _check_apiserver(add, probe)
    _check_etcd(add, probe)
    _check_registry(add, probe)
    _check_docker(add, probe)
    _check_exports(add, probe, trusted)
    _check_hosts_allow(add, probe, trusted)
