"""The incident record as Markdown (tickets, mail) and as one self-contained HTML page (inline
CSS, no script, nothing fetched; readable at phone width), headings in English or Chinese."""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

from kubemedic.engine import record_query as rq
from kubemedic.report.incident import Fault, Incident, command_of, host_results, redact_text

LANGS = ("en", "zh")

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "Incident record: {customer}",
        "basic": "Basic information", "customer": "Customer", "window": "Time window",
        "cluster": "Cluster configuration", "resources": "Resources",
        "cluster_line": "{masters} master(s), {workers} worker(s), etcd {etcd}, registry "
                        "{registry}, NFS server {nfs_server}; {gpu} GPU node(s), {npu} NPU "
                        "node(s); container runtime {runtime}; Kubernetes {version}",
        "node": "node", "address": "address", "roles": "roles", "accelerator": "accelerator",
        "faults": "Fault record", "fault": "Fault {n}: {check}",
        "fault_line": "{time}, doctor reported {check} on {hosts}",
        "symptom": "Symptom", "analysis": "Analysis", "source": "source",
        "handling": "Handling", "verification": "Verification", "leftovers": "Leftover items",
        "repair_time": "Time to repair", "no_handling": "no repair was run for it",
        "by": "by {user} from {devbox}", "started": "started {time}, {seconds} s, exit {rc}",
        "record": "record", "per_host": "per host",
        "verified": "{time}: doctor ({run}) checked {hosts} and no longer reports {check} "
                    "(that run: {verdict}; record {record})",
        "clean": "clean", "not_clean": "exit {rc}, other findings listed below",
        "not_verified": "not verified: no later doctor run came back without this finding",
        "none": "none", "open_all": "Findings still open at the last doctor run",
        "no_faults": "No critical finding in these runs.", "timeline": "Timeline",
        "time": "time", "command": "command", "who": "by", "result": "result",
        "seconds": "s", "grid": "Per-host status", "host": "host",
        "open": "open", "repaired": "repaired", "absent": "-",
        "covers": "Runs covered", "generated": "Written by `kubemedic report` at {time}.",
        "min": "{m} min {s} s", "sec": "{s} s", "step_symptom": "known as",
        "who_when": "{who}, {when}",
    },
    "zh": {
        "title": "生产环境异常恢复记录：{customer}",
        "basic": "基本信息", "customer": "环境客户", "window": "发生异常时间",
        "cluster": "集群配置", "resources": "资源配置",
        "cluster_line": "{masters} 个 Master，{workers} 个 Worker，etcd {etcd}，镜像仓库 "
                        "{registry}，NFS 服务器 {nfs_server}；GPU 节点 {gpu} 个，NPU 节点 {npu} "
                        "个；容器运行时 {runtime}；Kubernetes {version}",
        "node": "节点", "address": "地址", "roles": "角色", "accelerator": "加速卡",
        "faults": "故障记录", "fault": "故障 {n}：{check}",
        "fault_line": "{time}，doctor 在 {hosts} 上报告 {check}",
        "symptom": "现象", "analysis": "定位分析", "source": "依据",
        "handling": "处理", "verification": "验证", "leftovers": "遗留待处理和优化的问题",
        "repair_time": "修复用时", "no_handling": "未执行修复",
        "by": "执行人 {user}，开发机 {devbox}", "started": "开始于 {time}，用时 {seconds} 秒，退出码 {rc}",
        "record": "运行记录", "per_host": "各节点结果",
        "verified": "{time}：doctor（{run}）检查了 {hosts}，不再报告 {check}"
                    "（该次运行：{verdict}；运行记录 {record}）",
        "clean": "无问题", "not_clean": "退出码 {rc}，其余问题见下",
        "not_verified": "未验证：之后没有 doctor 运行确认该问题已消除",
        "none": "无", "open_all": "最后一次 doctor 运行时仍未解决的问题",
        "no_faults": "这些运行中没有严重问题。", "timeline": "时间线",
        "time": "时间", "command": "命令", "who": "执行人", "result": "结果",
        "seconds": "秒", "grid": "各节点状态", "host": "节点",
        "open": "未解决", "repaired": "已修复", "absent": "-",
        "covers": "涵盖的运行", "generated": "由 `kubemedic report` 生成于 {time}。",
        "min": "{m} 分 {s} 秒", "sec": "{s} 秒", "step_symptom": "已知现象",
        "who_when": "{who}，{when}",
    },
}


def _t(lang: str, key: str, **values: Any) -> str:
    return TEXT[lang][key].format(**values)


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(lang: str, seconds: float | None) -> str:
    if seconds is None:
        return _t(lang, "none")
    total = round(seconds)
    minutes, secs = divmod(total, 60)
    return _t(lang, "min", m=minutes, s=secs) if minutes else _t(lang, "sec", s=secs)


def _counts(counts: dict[str, int]) -> str:
    return " ".join(f"{k}={counts.get(k, 0)}" for k in ("ok", "changed", "failed", "unreachable"))


def _cluster_line(lang: str, cluster: dict[str, Any]) -> str:
    counts = cluster["counts"]
    return _t(lang, "cluster_line", masters=counts["masters"], workers=counts["workers"],
              etcd=counts["etcd"], registry=counts["registry"], nfs_server=counts["nfs_server"],
              gpu=cluster["gpu_nodes"], npu=cluster["npu_nodes"],
              runtime=cluster["runtime"] or "?", version=cluster["kubernetes_version"] or "?")


def _who_when(lang: str, run: dict[str, Any]) -> str:
    who = _t(lang, "by", user=run.get("user", "?"), devbox=run.get("devbox", "?"))
    when = _t(lang, "started", time=_when(rq.started_at(run)),
              seconds=run.get("duration_seconds"), rc=run.get("rc"))
    return _t(lang, "who_when", who=who, when=when)


def _status(run: dict[str, Any]) -> str:
    return f"{run.get('status', '?')} (exit {run.get('rc')})"


def _verified_line(lang: str, fault: Fault) -> str:
    run = fault.verified
    if run is None:
        return _t(lang, "not_verified")
    verdict = _t(lang, "clean") if not run.get("rc") else _t(lang, "not_clean", rc=run.get("rc"))
    return _t(lang, "verified", time=_when(rq.ended_at(run)), run=rq.run_id(run),
              hosts=", ".join(fault.hosts), check=fault.title, verdict=verdict,
              record=run["record"])


def _fault_title(lang: str, n: int, fault: Fault) -> str:
    return _t(lang, "fault", n=n, check=fault.title)


def _fault_line(lang: str, fault: Fault) -> str:
    return _t(lang, "fault_line", time=_when(rq.started_at(fault.detected)),
              check=fault.title, hosts=", ".join(fault.hosts))


def _md_cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_code(text: str) -> str:
    return "`" + text.replace("`", "'") + "`"


def markdown(incident: Incident, lang: str, generated: datetime) -> str:
    c = incident.cluster
    out = [f"# {_t(lang, 'title', customer=incident.customer)}", "",
           f"**{_t(lang, 'basic')}**", "",
           f"* {_t(lang, 'customer')}: {incident.customer}",
           f"* {_t(lang, 'window')}: {_when(incident.start)} ~ {_when(incident.end)}",
           f"* {_t(lang, 'cluster')}: {_cluster_line(lang, c)}",
           f"* {_t(lang, 'resources')}:", "",
           f"  | {_t(lang, 'node')} | {_t(lang, 'address')} | {_t(lang, 'roles')} | "
           f"{_t(lang, 'accelerator')} |", "  |---|---|---|---|"]
    out += [f"  | {n['name']} | {n['address']} | {', '.join(n['roles'])} | {n['accelerator']} |"
            for n in c["nodes"]]
    out += ["", f"## {_t(lang, 'faults')}", ""]
    if not incident.faults:
        out += [_t(lang, "no_faults"), ""]
    for n, fault in enumerate(incident.faults, 1):
        out += [f"### {_fault_title(lang, n, fault)}", "", f"{_fault_line(lang, fault)}", "",
                f"* **{_t(lang, 'symptom')}**:"]
        out += [f"  - {e['host']} {e['check']}: {_md_code(e['evidence'])}" for e in fault.evidence]
        out += [f"* **{_t(lang, 'analysis')}**: {fault.message}",
                f"  - {_t(lang, 'source')}: {fault.source}"]
        if fault.step_symptom:
            out.append(f"  - {_t(lang, 'step_symptom')}: {redact_text(fault.step_symptom)}")
        out.append(f"* **{_t(lang, 'handling')}**:" + ("" if fault.handling
                                                        else f" {_t(lang, 'no_handling')}"))
        for run in fault.handling:
            out += [f"  - {_md_code(command_of(run))}: {_who_when(lang, run)}",
                    f"    - {_t(lang, 'per_host')}: "
                    + "; ".join(f"{h} {_counts(v)}" for h, v in host_results(run).items()),
                    f"    - {_t(lang, 'record')}: {run['record']}"]
        out += [f"* **{_t(lang, 'verification')}**: {_verified_line(lang, fault)}",
                f"* **{_t(lang, 'repair_time')}**: {_duration(lang, fault.repair_seconds)}",
                f"* **{_t(lang, 'leftovers')}**:" + ("" if fault.leftovers
                                                     else f" {_t(lang, 'none')}")]
        out += [f"  {i}. {item}" for i, item in enumerate(fault.leftovers, 1)]
        out.append("")
    out += [f"## {_t(lang, 'leftovers')}", "", f"{_t(lang, 'open_all')}:"
            + ("" if incident.leftovers else f" {_t(lang, 'none')}"), ""]
    out += [f"{i}. {f['severity']} {f['host']} {f['check']}: {f['message']} "
            f"({_md_code(f['evidence'])})" for i, f in enumerate(incident.leftovers, 1)]
    out += ["", f"## {_t(lang, 'grid')}", "",
            f"| {_t(lang, 'host')} | " + " | ".join(f"#{n}" for n in
                                                   range(1, len(incident.faults) + 1)) + " |",
            "|---|" + "---|" * len(incident.faults)]
    out += [f"| {host} | " + " | ".join(_t(lang, s if s != "none" else "absent")
                                        for s in states) + " |"
            for host, states in incident.grid.items()]
    out += ["", f"## {_t(lang, 'timeline')}", "",
            f"| {_t(lang, 'time')} | {_t(lang, 'command')} | {_t(lang, 'who')} | "
            f"{_t(lang, 'result')} | {_t(lang, 'seconds')} | {_t(lang, 'record')} |",
            "|---|---|---|---|---|---|"]
    out += [f"| {_when(rq.started_at(r))} | {_md_cell(_md_code(command_of(r)))} | "
            f"{_md_cell(r.get('user', ''))}@{_md_cell(r.get('devbox', ''))} | "
            f"{_md_cell(_status(r))} | {r.get('duration_seconds')} | {rq.run_id(r)} |"
            for r in incident.runs]
    out += ["", f"{_t(lang, 'covers')}: {', '.join(incident.covers)}", "",
            _t(lang, "generated", time=_when(generated)), ""]
    return "\n".join(out)


CSS = """
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI","Noto Sans CJK SC","PingFang SC",
"Microsoft YaHei",sans-serif;color:#1d2330;background:#f4f6f9;overflow-wrap:anywhere}
header{background:#1f4e79;color:#fff;padding:16px}
header h1{margin:0;font-size:1.3em}
main{max-width:960px;margin:0 auto;padding:8px 12px 32px}
section{background:#fff;border-radius:8px;margin:12px 0;padding:12px 14px;
box-shadow:0 1px 2px rgba(0,0,0,.08)}
h2{font-size:1.15em;margin:4px 0 8px}
h3{font-size:1em;margin:12px 0 4px;color:#1f4e79}
ul,ol{padding-left:1.2em;margin:4px 0}
table{width:100%;border-collapse:collapse;font-size:.9em}
th,td{border:1px solid #d8dde6;padding:4px 6px;text-align:left;vertical-align:top;
overflow-wrap:anywhere;word-break:break-word}
th{background:#eef2f7}
code{font:.85em/1.4 ui-monospace,Menlo,Consolas,monospace;background:#f0f2f5;padding:1px 3px;
border-radius:3px;white-space:pre-wrap;overflow-wrap:anywhere;word-break:break-all}
.fault{border-left:5px solid #c0392b}
.fault.verified{border-left-color:#27ae60}
.badge{display:inline-block;padding:0 6px;border-radius:10px;font-size:.8em;color:#fff;
background:#7f8c8d}
.badge.open,.badge.failed{background:#c0392b}
.badge.repaired,.badge.ok{background:#27ae60}
.timeline{list-style:none;padding:0;margin:0;border-left:3px solid #1f4e79}
.timeline li{position:relative;padding:4px 0 8px 14px}
.timeline li::before{content:"";position:absolute;left:-8px;top:10px;width:13px;height:13px;
border-radius:50%;background:#1f4e79}
.timeline li.failed::before{background:#c0392b}
.meta{color:#5b6472;font-size:.85em}
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _html_run(lang: str, run: dict[str, Any]) -> str:
    hosts = "; ".join(f"{h} {_counts(v)}" for h, v in host_results(run).items())
    return (f"<code>{_e(command_of(run))}</code><div class=meta>"
            f"{_e(_who_when(lang, run))}"
            f"<br>{_e(_t(lang, 'per_host'))}: {_e(hosts)}<br>{_e(_t(lang, 'record'))}: "
            f"<code>{_e(run['record'])}</code></div>")


def page(incident: Incident, lang: str, generated: datetime) -> str:
    c = incident.cluster
    title = _t(lang, "title", customer=incident.customer)
    parts = [
        "<!DOCTYPE html>", f'<html lang="{"zh-CN" if lang == "zh" else "en"}">', "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>", f"<style>{CSS}</style>", "</head>", "<body>",
        f"<header><h1>{_e(title)}</h1><div>{_e(_when(incident.start))} ~ "
        f"{_e(_when(incident.end))}</div></header>", "<main>",
        f'<section id="basic"><h2>{_e(_t(lang, "basic"))}</h2><ul>'
        f"<li>{_e(_t(lang, 'customer'))}: {_e(incident.customer)}</li>"
        f"<li>{_e(_t(lang, 'window'))}: {_e(_when(incident.start))} ~ {_e(_when(incident.end))}</li>"
        f"<li>{_e(_t(lang, 'cluster'))}: {_e(_cluster_line(lang, c))}</li></ul>"
        f"<h3>{_e(_t(lang, 'resources'))}</h3><table><thead><tr>"
        + "".join(f"<th>{_e(_t(lang, k))}</th>" for k in ("node", "address", "roles",
                                                          "accelerator"))
        + "</tr></thead><tbody>"
        + "".join(f"<tr><td>{_e(n['name'])}</td><td>{_e(n['address'])}</td>"
                  f"<td>{_e(', '.join(n['roles']))}</td><td>{_e(n['accelerator'])}</td></tr>"
                  for n in c["nodes"])
        + "</tbody></table></section>",
        f'<section id="faults"><h2>{_e(_t(lang, "faults"))}</h2>'
        + ("" if incident.faults else f"<p>{_e(_t(lang, 'no_faults'))}</p>") + "</section>",
    ]
    for n, fault in enumerate(incident.faults, 1):
        state = "verified" if fault.verified else "open"
        handling = ("".join(f"<li>{_html_run(lang, r)}</li>" for r in fault.handling)
                    or f"<li>{_e(_t(lang, 'no_handling'))}</li>")
        leftovers = ("".join(f"<li>{_e(i)}</li>" for i in fault.leftovers)
                     or f"<li>{_e(_t(lang, 'none'))}</li>")
        parts.append(
            f'<section class="fault {state}" id="fault-{n}">'
            f"<h2>{_e(_fault_title(lang, n, fault))} <span class=\"badge "
            f"{'repaired' if fault.verified else 'open'}\">"
            f"{_e(_t(lang, 'repaired' if fault.verified else 'open'))}</span></h2>"
            f"<p>{_e(_fault_line(lang, fault))}</p>"
            f"<h3>{_e(_t(lang, 'symptom'))}</h3><ul>"
            + "".join(f"<li>{_e(ev['host'])} {_e(ev['check'])}: <code>{_e(ev['evidence'])}</code>"
                      "</li>" for ev in fault.evidence)
            + f"</ul><h3>{_e(_t(lang, 'analysis'))}</h3><p>{_e(fault.message)}</p>"
            f"<p class=meta>{_e(_t(lang, 'source'))}: {_e(fault.source)}"
            + (f"<br>{_e(_t(lang, 'step_symptom'))}: {_e(redact_text(fault.step_symptom))}"
               if fault.step_symptom else "")
            + f"</p><h3>{_e(_t(lang, 'handling'))}</h3><ol>{handling}</ol>"
            f"<h3>{_e(_t(lang, 'verification'))}</h3><p>{_e(_verified_line(lang, fault))}</p>"
            f"<p><b>{_e(_t(lang, 'repair_time'))}</b>: "
            f"{_e(_duration(lang, fault.repair_seconds))}</p>"
            f"<h3>{_e(_t(lang, 'leftovers'))}</h3><ol>{leftovers}</ol></section>")
    parts.append(
        f'<section id="leftovers"><h2>{_e(_t(lang, "leftovers"))}</h2>'
        f"<p>{_e(_t(lang, 'open_all'))}:</p><ol>"
        + ("".join(f"<li><span class=\"badge {'failed' if f['severity'] == 'critical' else ''}\">"
                   f"{_e(f['severity'])}</span> {_e(f['host'])} {_e(f['check'])}: "
                   f"{_e(f['message'])} <code>{_e(f['evidence'])}</code></li>"
                   for f in incident.leftovers) or f"<li>{_e(_t(lang, 'none'))}</li>")
        + "</ol></section>")
    parts.append(
        f'<section id="grid"><h2>{_e(_t(lang, "grid"))}</h2><table><thead><tr>'
        f"<th>{_e(_t(lang, 'host'))}</th>"
        + "".join(f"<th>#{n}</th>" for n in range(1, len(incident.faults) + 1))
        + "</tr></thead><tbody>"
        + "".join(f"<tr><td>{_e(host)}</td>"
                  + "".join(f"<td><span class=\"badge {s}\">"
                            f"{_e(_t(lang, s if s != 'none' else 'absent'))}</span></td>"
                            for s in states) + "</tr>"
                  for host, states in incident.grid.items())
        + "</tbody></table></section>")
    parts.append(
        f'<section id="timeline"><h2>{_e(_t(lang, "timeline"))}</h2><ol class="timeline">'
        + "".join(f"<li class=\"{'failed' if r.get('rc') else 'ok'}\"><b>"
                  f"{_e(_when(rq.started_at(r)))}</b> <span class=\"badge "
                  f"{'failed' if r.get('rc') else 'ok'}\">{_e(_status(r))}</span><br>"
                  f"{_html_run(lang, r)}</li>" for r in incident.runs)
        + f"</ol><p class=meta>{_e(_t(lang, 'covers'))}: {_e(', '.join(incident.covers))}</p>"
        "</section>")
    parts += [f"<p class=meta>{_e(_t(lang, 'generated', time=_when(generated)))}</p>",
              "</main>", "</body>", "</html>", ""]
    return "\n".join(parts)
