"""An incident record built from run records, in the layout of the seeds' outage logs (seed 000):
basic information, then per fault symptom, analysis, handling, verification, leftover items.

Plain Python on dicts (no click): the run summaries of `kubemedic history`, the doctor answers
doctor wrote into its records (doctor.json) and the customer's inventory.

A fault is a root finding of doctor (one not caused by another finding) seen in a doctor run:
critical ones always, warnings when a repair was run for them. It opens at the first doctor run
that reports it, collects the hosts it is seen on, and is verified by the first later doctor run
that checked all of them and reports it on none. Its handling is every run of its repair (the
finding's recovery step, or the verb and tags of the command doctor printed) between the two,
on its hosts. Time to repair: from the start of the detecting doctor run to the end of the
verifying one.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from typing import Any

import yaml

from kubemedic.engine import record_query as rq
from kubemedic.engine.records import REDACTED, SECRET_NAME, redact

_SECRET_WORD = SECRET_NAME.pattern.strip("()")
# name=value, name: value, "name": "value", --name value, name being secret-looking
_SECRET_TEXT = re.compile(
    r"""(?P<name>["']?[\w.-]*(?:""" + _SECRET_WORD + r""")[\w.-]*["']?)(?P<sep>\s*[=:]\s*)"""
    r"""(?P<value>"[^"]*"|'[^']*'|[^\s,;}]+)"""
    r"""|(?P<flag>--[\w-]*(?:""" + _SECRET_WORD + r""")[\w-]*)(?P<space>\s+)(?P<arg>[^\s-]\S*)""",
    re.IGNORECASE)
# CLI words of a verb as the record names it ("recover-pause-image" -> "recover pause-image").
_VERB_WORDS = (("recover-", "recover "), ("lab-", "lab "), ("etcd-", "etcd "),
               ("kernel-", "kernel "), ("node-add-", "node add "),
               ("node-remove-", "node remove "), ("images-", "images "))
# Verbs that are not the repair of a fault (they inject, diagnose or describe).
NOT_HANDLING = ("doctor", "report", "lab-drill")
PLUMBING = "kubemedic_"


def redact_text(text: Any) -> str:
    """Free text (evidence, messages, commands) with the values of secret-looking names hidden,
    the way records.redact hides extravars."""
    def hide(match: re.Match[str]) -> str:
        if match.group("flag"):
            return f"{match.group('flag')}{match.group('space')}{REDACTED}"
        return f"{match.group('name')}{match.group('sep')}{REDACTED}"

    return _SECRET_TEXT.sub(hide, str(text if text is not None else ""))


def command_of(run: dict[str, Any]) -> str:
    """The kubemedic command line a run record stands for (secrets redacted)."""
    verb = str(run.get("verb", ""))
    words = verb
    for prefix, replacement in _VERB_WORDS:
        if verb.startswith(prefix):
            words = replacement + verb[len(prefix):]
            break
    parts = ["kubemedic", *words.split()]
    tags = list(run.get("tags") or [])
    if verb == "lab-drill":
        parts += tags
    parts += ["-c", str(run.get("customer", ""))]
    if run.get("limit"):
        parts += ["--limit", str(run["limit"])]
    if tags and not verb.startswith(("recover-", "lab-drill")):
        parts += ["--tags", ",".join(tags)]
    if run.get("skip_tags"):
        parts += ["--skip-tags", ",".join(run["skip_tags"])]
    if run.get("check"):
        parts.append("--check")
    line = " ".join(shlex.quote(p) for p in parts)
    for name, value in sorted(redact(dict(run.get("extravars") or {})).items()):
        if not str(name).startswith(PLUMBING):
            shown = REDACTED if value == REDACTED else shlex.quote(str(value))
            line += f" -e {shlex.quote(str(name))}={shown}"
    return redact_text(line)


def host_results(run: dict[str, Any]) -> dict[str, dict[str, int]]:
    return {host: {k: int(v) for k, v in counts.items()}
            for host, counts in sorted((run.get("hosts") or {}).items())}


def _load_steps() -> dict[str, dict[str, Any]]:
    text = resources.files("kubemedic.data").joinpath("recover_steps.yml").read_text()
    return {s["name"]: s for s in yaml.safe_load(text) or []}


def _signature(check: str) -> Any:
    if not check.startswith(("log:", "event:")):
        return None
    from kubemedic.doctor import kb

    wanted = check.split(":", 1)[1]
    return next((s for s in kb.load() if s.id == wanted), None)


@dataclass
class Fault:
    check: str                          # the first (most severe) check; all of them in checks
    severity: str
    message: str
    step: str | None
    command: str | None
    detected: dict[str, Any]
    hosts: list[str] = field(default_factory=list)
    open_hosts: set[str] = field(default_factory=set)
    evidence: list[dict[str, str]] = field(default_factory=list)
    handling: list[dict[str, Any]] = field(default_factory=list)
    verified: dict[str, Any] | None = None
    source: str = ""
    step_symptom: str = ""
    leftovers: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        return ", ".join(self.checks)

    @property
    def repair_seconds(self) -> float | None:
        if self.verified is None:
            return None
        return (rq.ended_at(self.verified) - rq.started_at(self.detected)).total_seconds()


@dataclass
class Incident:
    customer: str
    start: datetime
    end: datetime
    cluster: dict[str, Any]
    runs: list[dict[str, Any]]
    faults: list[Fault]
    leftovers: list[dict[str, str]]
    grid: dict[str, list[str]]          # host -> state per fault (open/repaired/none)
    covers: list[str]


def cluster_config(hosts: dict[str, dict[str, Any]], groups: dict[str, list[str]],
                   cluster_vars: dict[str, Any]) -> dict[str, Any]:
    """What seed 000 puts under 集群配置/资源配置, from the inventory."""
    roles = ("masters", "workers", "etcd", "registry", "nfs_server", "gpu", "npu")
    members = groups.get("cluster", [])
    nodes = []
    for host in members:
        variables = hosts.get(host, {})
        nodes.append({"name": host, "address": str(variables.get("ansible_host", "")),
                      "roles": [r for r in roles if host in groups.get(r, [])],
                      "accelerator": str(variables.get("accelerator") or "none")})
    version = str(cluster_vars.get("cluster_kubernetes_version", ""))
    runtime = cluster_vars.get("cluster_container_runtime")
    if not runtime and version:
        major_minor = tuple(int(p) for p in re.findall(r"\d+", version)[:2])
        runtime = "docker" if major_minor < (1, 24) else "containerd"
    return {
        "name": str(cluster_vars.get("cluster_name", "")),
        "nodes": nodes,
        "counts": {r: len([h for h in groups.get(r, []) if h in members]) for r in roles},
        "gpu_nodes": len(groups.get("gpu", [])), "npu_nodes": len(groups.get("npu", [])),
        "runtime": str(runtime or ""),
        "kubernetes_version": version,
        "subnet": str(cluster_vars.get("cluster_subnet", "")),
        "registry": str(cluster_vars.get("cluster_registry", "")),
    }


def _limit_reaches(run: dict[str, Any], hosts: list[str], known: set[str]) -> bool:
    """A run limited to named hosts reaches a fault only through one of its hosts; a group or
    pattern limit is taken to reach them."""
    limit = run.get("limit")
    if not limit:
        return True
    parts = [p.strip() for p in re.split(r"[,:]", str(limit)) if p.strip()]
    return any(p in hosts or p not in known for p in parts)


def _repairs(run: dict[str, Any], fault: Fault) -> bool:
    verb = str(run.get("verb", ""))
    if fault.step:
        return verb == f"recover-{fault.step}"
    words = shlex.split(fault.command or "")
    if len(words) < 2 or words[0] != "kubemedic":
        return False
    if verb != words[1]:
        return False
    wanted = {t for i, w in enumerate(words[:-1]) if w in ("--tags", "-t")
              for t in words[i + 1].split(",")}
    return not wanted or bool(wanted & set(run.get("tags") or []))


def _findings(answer: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in answer.get("findings") or [] if f.get("severity") in ("critical", "warning")]


def build(customer: str, runs: list[dict[str, Any]], cluster: dict[str, Any]) -> Incident:
    """The incident the runs (oldest first, none of them a report) describe."""
    steps = _load_steps()
    known = {n["name"] for n in cluster.get("nodes", [])}
    faults: list[Fault] = []
    open_faults: dict[str, Fault] = {}
    last_answer: dict[str, Any] | None = None
    for run in runs:
        if run.get("verb") != "doctor":
            continue
        answer = rq.doctor_answer(run)
        if answer is None:
            continue
        last_answer = answer
        found = _findings(answer)
        # One fault per repair: root findings naming the same recovery step are one fault
        # (hosts.allow without the subnet and with duplicate rules); others, one per check.
        roots: dict[str, list[dict[str, Any]]] = {}
        for finding in sorted(found, key=lambda f: f["severity"] != "critical"):
            if not finding.get("caused_by"):
                key = f"step:{finding['step']}" if finding.get("step") else finding["check"]
                roots.setdefault(key, []).append(finding)
        for key, items in roots.items():
            fault = open_faults.get(key)
            if fault is None:
                first = items[0]
                fault = Fault(check=first["check"], severity=first["severity"],
                              message=first.get("message", ""), step=first.get("step"),
                              command=first.get("command"), detected=run)
                open_faults[key] = fault
                faults.append(fault)
            if any(f["severity"] == "critical" for f in items):
                fault.severity = "critical"
            for finding in items:
                host, check = finding["host"], finding["check"]
                fault.open_hosts.add(host)
                if check not in fault.checks:
                    fault.checks.append(check)
                if host not in fault.hosts:
                    fault.hosts.append(host)
                if any(e["host"] == host and e["check"] == check for e in fault.evidence):
                    continue
                fault.evidence.append({"host": host, "check": check,
                                       "evidence": redact_text(finding.get("evidence"))})
                fault.evidence.extend(
                    {"host": host, "check": f["check"], "evidence": redact_text(f.get("evidence"))}
                    for f in found if f.get("caused_by") == check and f["host"] == host)
        checked = set(answer.get("hosts") or [])
        for key, fault in list(open_faults.items()):
            present = {f["host"] for f in roots.get(key, [])}
            fault.open_hosts -= (checked - present)
            if not fault.open_hosts:
                fault.verified = run
                del open_faults[key]

    for fault in faults:
        until = rq.started_at(fault.verified) if fault.verified else None
        for run in runs:
            if run.get("verb") in NOT_HANDLING or not _repairs(run, fault):
                continue
            moment = rq.started_at(run)
            if moment < rq.started_at(fault.detected) or (until and moment > until):
                continue
            if _limit_reaches(run, fault.hosts, known):
                fault.handling.append(run)
    faults = [f for f in faults if f.severity == "critical" or f.handling]
    for fault in faults:
        _analyse(fault, steps)

    leftovers = [{"host": f["host"], "check": f["check"], "severity": f["severity"],
                  "evidence": redact_text(f.get("evidence")),
                  "message": redact_text(f.get("message"))}
                 for f in _findings(last_answer or {})]
    hosts = sorted({n["name"] for n in cluster.get("nodes", [])}
                   | {h for f in faults for h in f.hosts})
    grid = {host: [("open" if host in f.open_hosts else "repaired") if host in f.hosts else "none"
                   for f in faults] for host in hosts}
    start = rq.started_at(runs[0])
    end = max(rq.ended_at(r) for r in runs)
    return Incident(customer=customer, start=start, end=end, cluster=cluster, runs=runs,
                    faults=faults, leftovers=leftovers, grid=grid,
                    covers=[rq.run_id(r) for r in runs])


def _analyse(fault: Fault, steps: dict[str, dict[str, Any]]) -> None:
    signature = _signature(fault.check)
    parts = []
    if signature is not None and fault.check == fault.checks[0]:
        seeds = ", ".join(signature.seeds)
        parts.append(f"knowledge base signature {signature.id} (cli/kubemedic/data/kb)"
                     + (f", seed {seeds}" if seeds else ""))
        fault.message = " ".join(str(signature.cause).split())
    else:
        parts.append(f"doctor check {fault.check} (cli/kubemedic/doctor/checks.py)")
    step = steps.get(fault.step or "")
    if step:
        seeds = ", ".join(step.get("seeds") or [])
        parts.append(f"recovery step {step['name']} (cli/kubemedic/data/recover_steps.yml)"
                     + (f", seed {seeds}" if seeds else ""))
        fault.step_symptom = " ".join(str(step.get("symptom", "")).split())
    fault.source = "; ".join(parts)
    fault.message = redact_text(fault.message)
    if fault.verified is None:
        fault.leftovers.append(f"still open on {', '.join(sorted(fault.open_hosts))}")
    for run in fault.handling:
        bad = [h for h, c in host_results(run).items() if c.get("failed") or c.get("unreachable")]
        if bad or run.get("rc"):
            fault.leftovers.append(f"{rq.run_id(run)} exited {run.get('rc')}"
                                   + (f" (failed/unreachable: {', '.join(bad)})" if bad else ""))
    if fault.verified is not None:
        answer = rq.doctor_answer(fault.verified) or {}
        for finding in answer.get("findings") or []:
            if finding.get("severity") == "warning" and finding["host"] in fault.hosts:
                fault.leftovers.append(f"warning on {finding['host']}: {finding['check']}: "
                                       f"{redact_text(finding.get('message'))}")
