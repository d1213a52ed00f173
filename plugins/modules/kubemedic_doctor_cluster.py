#!/usr/bin/python
"""Read the cluster for `kubemedic doctor` with kubectl on the first master (read-only)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: kubemedic_doctor_cluster
short_description: Collect nodes, pods, warning events and certificate expiry for kubemedic doctor
description:
  - Read-only, run once on the first master. Without the admin kubeconfig it reports
    C(available=false) and runs nothing (Kubernetes not installed there, or reset).
  - Returns C(kubectl get nodes -o json), C(get pods -A -o json) (managedFields dropped) and
    C(get events -A --field-selector type=Warning -o json) as parsed JSON, and the text of
    C(kubeadm certs check-expiration) (or C(<path> notAfter=<date>) lines from openssl over
    the pki folder when kubeadm cannot tell). The doctor role evaluates them on the controller.
options:
  kubectl: {description: kubectl binary., type: str, default: kubectl}
  kubeconfig: {description: Admin kubeconfig., type: str, default: /etc/kubernetes/admin.conf}
  kubeadm: {description: kubeadm binary (certificate expiry)., type: str, default: kubeadm}
  pki_dir: {description: Certificates read with openssl when kubeadm cannot list them., type: str, default: /etc/kubernetes/pki}
  timeout: {description: Seconds each kubectl call may take., type: int, default: 30}
author: kubemedic maintainers (@kubemedic)
"""

EXAMPLES = r"""
- name: Doctor | the cluster as kubectl on the first master sees it
  kubemedic_doctor_cluster:
    kubeconfig: /etc/kubernetes/admin.conf
  register: cluster
"""

RETURN = r"""
cluster:
  description: available, reason, kubeconfig, kubeconfig_present, now, nodes, pods, events, certs, ca_sha256.
  type: dict
  returned: always
"""

import glob
import json
import os
import shutil
import subprocess
import time

from ansible.module_utils.basic import AnsibleModule


def _run(args, timeout):
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False,
                              errors="replace")
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 127, "", str(exc)
    return proc.returncode, proc.stdout, proc.stderr


def _json(kubectl, kubeconfig, args, timeout):
    rc, out, err = _run([kubectl, "--kubeconfig", kubeconfig, *args, "-o", "json"], timeout)
    if rc != 0:
        return None, (err.strip() or out.strip() or f"exit {rc}")[-400:]
    try:
        return json.loads(out), None
    except ValueError as exc:
        return None, f"not JSON: {exc}"


def _slim(listing):
    """Drop what doctor never reads and what makes pod lists big (managedFields, annotations)."""
    for item in (listing or {}).get("items") or []:
        meta = item.get("metadata") or {}
        meta.pop("managedFields", None)
        meta.pop("annotations", None)
        (item.get("spec") or {}).pop("volumes", None)
    return listing


def certs(kubeadm, pki_dir, timeout):
    if shutil.which(kubeadm):
        rc, out, _err = _run([kubeadm, "certs", "check-expiration"], timeout)
        if rc == 0 and "EXPIRES" in out:
            return {"source": "kubeadm certs check-expiration", "text": out}
    openssl = shutil.which("openssl")
    files = sorted(glob.glob(f"{pki_dir}/*.crt") + glob.glob(f"{pki_dir}/etcd/*.crt"))
    if not openssl or not files:
        return {"source": None, "text": ""}
    lines = []
    for path in files:
        rc, out, _err = _run([openssl, "x509", "-noout", "-enddate", "-in", path], timeout)
        if rc == 0 and out.strip():
            name = os.path.relpath(path, pki_dir)[:-len(".crt")]
            lines.append(f"{name} {out.strip()}")
    return {"source": "openssl x509 -enddate", "text": "\n".join(lines)}


def ca_sha256(path):
    """sha256 (hex) of the cluster CA certificate's DER bytes (the first master's ca.crt): every
    node of this cluster trusts the same one (doctor compares each node's)."""
    import base64
    import hashlib

    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return None
    body = text.partition("-----BEGIN CERTIFICATE-----")[2].partition("-----END CERTIFICATE-----")[0]
    try:
        der = base64.b64decode("".join(body.split()), validate=True)
    except ValueError:
        return None
    return hashlib.sha256(der).hexdigest() if der else None


def main():
    module = AnsibleModule(
        argument_spec={
            "kubectl": {"type": "str", "default": "kubectl"},
            "kubeconfig": {"type": "str", "default": "/etc/kubernetes/admin.conf"},
            "kubeadm": {"type": "str", "default": "kubeadm"},
            "pki_dir": {"type": "str", "default": "/etc/kubernetes/pki"},
            "timeout": {"type": "int", "default": 30},
        },
        supports_check_mode=True,
    )
    p = module.params
    started = time.monotonic()
    view = {"available": False, "reason": None, "kubeconfig": p["kubeconfig"],
            "kubeconfig_present": os.path.isfile(p["kubeconfig"]), "now": time.time(),
            "nodes": None, "pods": None, "events": None, "certs": None, "errors": {}}
    if not view["kubeconfig_present"]:
        view["reason"] = f"{p['kubeconfig']}: no such file (Kubernetes not set up here)"
    elif not shutil.which(p["kubectl"]):
        view["reason"] = f"{p['kubectl']}: not installed"
    else:
        view["nodes"], error = _json(p["kubectl"], p["kubeconfig"], ["get", "nodes"], p["timeout"])
        if error:
            view["reason"] = error
        else:
            view["available"] = True
            pods, view["errors"]["pods"] = _json(p["kubectl"], p["kubeconfig"],
                                                 ["get", "pods", "-A"], p["timeout"])
            view["pods"] = _slim(pods)
            view["events"], view["errors"]["events"] = _json(
                p["kubectl"], p["kubeconfig"],
                ["get", "events", "-A", "--field-selector", "type=Warning"], p["timeout"])
        view["certs"] = certs(p["kubeadm"], p["pki_dir"], p["timeout"])
    view["ca_sha256"] = ca_sha256(os.path.join(p["pki_dir"], "ca.crt"))
    view["seconds"] = round(time.monotonic() - started, 2)
    module.exit_json(changed=False, cluster=view)


if __name__ == "__main__":
    main()
