"""NVIDIA's Xid catalog (kubemedic/data/xid-catalog.yml) and its GPU faults without an Xid, heal's
parsing over real kernel-log and nvidia-smi excerpts (tests/data/logs/heal.yml, training split
only) and the per-Xid findings explain and doctor print (each with a command the operator can
paste)."""

from __future__ import annotations

import json
import subprocess
from importlib import resources

import pytest
import yaml
from click.testing import CliRunner

from kubemedic.doctor import checks, kb
from kubemedic.heal import xid
from kubemedic.main import cli
from tests.conftest import REPO
from tests.unit.test_doctor_checks import SETTINGS
from tests.unit.test_log_corpus import heldout

CORPUS = yaml.safe_load((REPO / "tests" / "data" / "logs" / "heal.yml").read_text())
# heal's scan reads an excerpt as kernel log (NVRM lines) and as nvidia-smi output
TRAINING = [e for e in CORPUS if not heldout(e["id"]) and xid.scan(e["text"], e["text"])]
# Training entries whose label is decided by context, not by the Xid's catalog class.
LABEL_FROM_CONTEXT = {
    # Xid 45 alone is "follow the other Xid" (NVIDIA's WORKFLOW_XID_45: app class); the label is
    # reboot because of the hung D-state tasks after it, which no Xid rule can see.
    "heal-gpud-pr117-xid45",
    # Xid 45 lines that name the NVLink Xid 145/149 (reset class) behind them in their text
    # ("caused by previous Xid 149"); only the 45 lines are in the excerpt.
    "heal-ogkm-1150",
    # Xid 13/31 (application class) on all eight GPUs, but the whole node's GPUs hung until the
    # host was rebooted: the reboot is read from the thread, not from the Xid codes.
    "heal-flashinfer-3869",
}


def by_id(entry_id: str) -> dict:
    return next(e for e in CORPUS if e["id"] == entry_id)


def test_catalog_has_every_code_of_nvidias_table_once_with_a_known_class() -> None:
    raw = [e for e in yaml.safe_load(resources.files("kubemedic.data").joinpath(xid.CATALOG_FILE)
                                     .read_text()) if "event" not in e]
    assert [e["code"] for e in raw] == list(range(1, 173))
    for entry in raw:
        assert entry["class"] in xid.CLASSES, entry["code"]
        assert entry["description"] and entry["mnemonic"] and entry["cause"], entry["code"]
        assert set(entry["nvidia"]) == {"immediate", "investigatory"}, entry["code"]
        # a class not read off NVIDIA's immediate bucket says why
        if entry["code"] in (48, 64) or not entry["nvidia"]["immediate"]:
            assert entry.get("basis"), entry["code"]
    text = resources.files("kubemedic.data").joinpath(xid.CATALOG_FILE).read_text()
    assert "docs.nvidia.com/deploy/xid-errors/analyzing-xid-catalog.html" in text.split("- code")[0]


@pytest.mark.parametrize(("codes", "expected"), [
    ((13, 31, 43, 45, 63, 92, 94), "app"),   # never a node reboot
    ((62, 74, 95, 109, 119, 120), "reset"),
    ((48, 79), "reboot"),
    ((64,), "rma"),
])
def test_documented_anchors(codes, expected) -> None:
    assert {code: xid.xid_class(code) for code in codes} == dict.fromkeys(codes, expected)


def test_every_nvidia_bucket_maps_to_one_class() -> None:
    """Same immediate action, same class (the exceptions carry a `basis`)."""
    raw = [e for e in yaml.safe_load(resources.files("kubemedic.data").joinpath(xid.CATALOG_FILE)
                                     .read_text()) if "event" not in e]
    seen: dict[str, set[str]] = {}
    for entry in raw:
        if not entry.get("basis"):
            seen.setdefault(entry["nvidia"]["immediate"], set()).add(entry["class"])
    assert all(len(classes) == 1 for classes in seen.values()), seen
    assert seen["RESTART_APP"] == {"app"} and seen["RESET_GPU"] == {"reset"}


@pytest.mark.parametrize("entry", TRAINING, ids=lambda e: e["id"])
def test_real_excerpts_get_their_labelled_class(entry) -> None:
    events = xid.scan(entry["text"], entry["text"])
    if "xid" in entry:
        assert entry["xid"] in xid.codes(events)
    if entry["id"] in LABEL_FROM_CONTEXT:
        assert xid.worst_class(xid.codes(events)) != entry["xid_class"]  # still a disagreement
        return
    assert xid.worst_class(xid.codes(events)) == entry["xid_class"]


@pytest.mark.parametrize("entry_id", ["heal-nvsentinel-155", "heal-bumblebee-554"])
def test_fallen_off_the_bus_without_the_token_xid_is_xid_79(entry_id) -> None:
    text = by_id(entry_id)["text"]
    assert "Xid" not in text
    events = xid.parse(text)
    assert [e.code for e in events] == [79]
    assert events[0].pci in ("0000:b3:00.0", "0000:01:00.0")
    assert events[0].line_no == 1


def test_a_79_line_and_its_fallen_off_echo_are_one_event() -> None:
    # heal-akash-support-209: the driver prints `Xid ...: 79, ... fallen off` then
    # `NVRM: GPU 0000:a1:00.0: GPU has fallen off the bus.`
    events = xid.parse(by_id("heal-akash-support-209")["text"])
    assert [(e.code, e.pci) for e in events] == [(79, "0000:a1:00")]
    assert xid.parse("NVRM: GPU at PCI:0000:03:00: GPU-abc\nXid is a word\n"
                     "the bus has fallen off the bridge") == []


def test_findings_name_the_action_and_a_command_per_code() -> None:
    text = "\n".join([by_id("heal-gpud-pr46")["text"], by_id("heal-gpu-operator-1146")["text"],
                      by_id("heal-ogkm-446")["text"], "NVRM: Xid (0000:03:00): 999, x"])
    found = xid.findings(text, "acme", "gpu7")
    # worst class first; a code outside NVIDIA's table last
    assert [(f["code"], f["xid_class"]) for f in found] == [
        (64, "rma"), (48, "reboot"), (119, "reset"), (13, "app"), (999, None)]
    by_code = {f["code"]: f for f in found}
    assert by_code[13]["command"] == "kubemedic heal -c acme --limit gpu7 --dry-run"
    assert by_code[13]["severity"] == "warning" and "no node action" in by_code[13]["action"]
    for code in (48, 64, 119):
        assert by_code[code]["command"] == "kubemedic heal -c acme --limit gpu7"
        assert by_code[code]["severity"] == "critical"
    assert "hardware support" in by_code[64]["action"]
    assert by_code[999]["xid_class"] is None and "--dry-run" in by_code[999]["command"]
    assert by_code[48]["evidence"].startswith("Dec  2 11:38:47 worker4 kernel")


def test_kb_signature_is_the_expansion_hook() -> None:
    assert {s.id for s in kb.load()} >= set(xid.KB_SIGNATURES)
    assert "gpu-xid" not in {s.id for s in kb.load()}


def test_explain_prints_one_finding_per_xid_with_its_command(tmp_path) -> None:
    log = tmp_path / "kern.log"
    log.write_text(by_id("heal-gpud-readme-xid31")["text"] + "\n"
                   + by_id("heal-nvsentinel-155")["text"] + "\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["explain", str(log), "--json"])
    assert result.exit_code == 0, result.output
    matched = json.loads(result.output)["matched"]
    assert [(m["id"], m["xid_class"], m["command"]) for m in matched] == [
        ("nvidia-xid-79", "reboot", "kubemedic heal -c CUSTOMER --limit HOST"),
        ("nvidia-xid-31", "app", "kubemedic heal -c CUSTOMER --limit HOST --dry-run")]


def test_doctor_kernel_log_finding_per_xid() -> None:
    probe = {"logs": {"kernel": by_id("heal-vllm-5901")["text"] + "\n"
                      + by_id("heal-nvforums-364958-xid120")["text"]}}
    found = [f for f in checks.evaluate("gpu1", probe, {**SETTINGS, "customer": "acme", "groups": ["gpu"]})
             if f["check"].startswith("log:nvidia-xid")]
    assert {f["check"]: (f["severity"], f["command"]) for f in found} == {
        "log:nvidia-xid-120": ("critical", "kubemedic heal -c acme --limit gpu1"),
        "log:nvidia-xid-154": ("warning", "kubemedic heal -c acme --limit gpu1 --dry-run"),
        "log:nvidia-xid-13": ("warning", "kubemedic heal -c acme --limit gpu1 --dry-run")}
    assert found[0]["check"] == "log:nvidia-xid-120"  # critical first


# ------------------------------------------------------------ GPU faults without an Xid number

def test_catalog_events_have_a_class_a_basis_and_a_heal_signature() -> None:
    signatures = {s.id: s for s in kb.load()}
    assert set(xid.events()) == {"gpu-init-failed", "gpu-reset-required", "row-remap-pending",
                                 "row-remap-failure", "page-retirement-pending",
                                 "cuda-uncorrectable-ecc", "cuda-illegal-address"}
    for info in xid.events().values():
        assert info.xid_class in xid.CLASSES and info.basis and info.cause, info.name
        assert signatures[info.kb].label == "heal", info.name
        assert all("NVRM" in p.pattern for p in info.kernel), info.name  # the scan keeps NVRM
    classes = {name: info.xid_class for name, info in xid.events().items()}
    # NVIDIA: a failed init / NV_ERR_RESET_REQUIRED / a pending row remap need a GPU reset,
    # pending page retirement a reboot (driver reload), a remapping failure an RMA
    # CUDA's uncorrectable ECC error (no Xid read) a GPU reset, an illegal address the app's
    assert classes == {"gpu-init-failed": "reset", "gpu-reset-required": "reset",
                       "row-remap-pending": "reset", "page-retirement-pending": "reboot",
                       "row-remap-failure": "rma", "cuda-uncorrectable-ecc": "reset",
                       "cuda-illegal-address": "app"}
    assert xid.xid_class("row-remap-pending") == "reset" and xid.xid_class("nope") is None
    assert xid.describe(62) == "Xid 62" and xid.describe("row-remap-pending") == \
        "row-remap-pending (no Xid)"


@pytest.mark.parametrize("signature", ["nvidia-gpu-reset-required", "nvidia-row-remap-pending",
                                       "cuda-uncorrectable-ecc", "cuda-illegal-address"])
def test_what_a_heal_signature_finds_heal_finds_too(signature) -> None:
    """The command these findings print (`kubemedic heal --limit HOST`) acts on the same lines:
    every example of the signature is a catalog event of that signature for heal's scan (read as
    kernel log, nvidia-smi output and pod log)."""
    entry = next(s for s in kb.load() if s.id == signature)
    for example in entry.examples:
        events = xid.scan(example, example, example)
        assert events, example
        assert {xid.events()[e.code].kb for e in events} == {signature}, example


# TEST DOUBLE: two GPUs in `nvidia-smi -q`'s layout (section titles, `Name : value` fields nested
# by indentation, a `GPU <PCI>` header per GPU), written here; the real reports are corpus entries.
TWO_GPUS = """==============NVSMI LOG==============

Attached GPUs                             : 2
GPU 00000000:07:00.0
    ECC Mode
        Current                           : Enabled
        Pending                           : Enabled
    Retired Pages
        Pending Page Blacklist            : N/A
    Remapped Rows
        Correctable Error                 : 0
        Uncorrectable Error               : 2
        Pending                           : Yes
        Remapping Failure Occurred        : No
        Bank Remap Availability Histogram
            Max                           : 638 bank(s)
GPU 00000000:3B:00.0
    Remapped Rows
        Pending                           : No
        Remapping Failure Occurred        : Yes
"""


def test_nvidia_smi_fields_per_gpu() -> None:
    events = xid.parse_smi(TWO_GPUS)
    assert [(e.code, e.pci) for e in events] == [("row-remap-pending", "00000000:07:00.0"),
                                                 ("row-remap-failure", "00000000:3B:00.0")]
    assert events[0].line.startswith("Pending") and events[0].line.endswith(": Yes")
    assert xid.worst_class(xid.codes(events)) == "rma"
    # "ECC Mode / Pending : Enabled", "Pending : No", a field outside its section: not faults
    assert xid.parse_smi("    ECC Mode\n        Pending : Yes\n    Pending : Yes\n"
                         "    Remapped Rows\n        Pending : No\n") == []
    # a real report (older GPU, lower-case `Retired pages`): pending page retirement
    retired = xid.parse_smi(by_id("heal-mlengineering-debug-page-blacklist")["text"])
    assert [(e.code, xid.xid_class(e.code)) for e in retired] == [
        ("page-retirement-pending", "reboot")]
    # NVML_ERROR_RESET_REQUIRED as nvidia-smi prints it for a field it cannot read (the form a
    # public write-up quotes) and as nvidia-container-cli words it
    for line in ("        Channel Repair Pending: GPU requires reset",
                 "nvidia-container-cli: detection error: nvml error: gpu requires reset"):
        assert [e.code for e in xid.parse_smi(line)] == ["gpu-reset-required"], line


def test_kernel_faults_without_xid_and_their_order_with_xid_lines() -> None:
    text = "\n".join([by_id("heal-ogkm-789")["text"], "NVRM: Xid (0000:03:00): 79, off the bus"])
    found = xid.scan(text)
    assert xid.codes(found) == ["gpu-init-failed", 79]
    assert [e.line_no for e in found] == sorted(e.line_no for e in found)
    assert {e.pci for e in found if e.code == "gpu-init-failed"} >= {"0000:98:00.0"}
    assert xid.worst_class(xid.codes(found)) == "reboot"   # Xid 79 is the worse of the two
    # an Xid line is the Xid's, never also a fault: no double count
    assert xid.codes(xid.scan("NVRM: Xid (PCI:0000:3b:00): 119, NV_ERR_RESET_REQUIRED")) == [119]
    # explain/doctor expand Xid lines only; the faults are their own signatures' findings
    assert [f["code"] for f in xid.findings(text)] == [79]


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda e: e.update({"class": "soon"}), "class must be one of"),
    (lambda e: e.update({"kernel": ["RmInitAdapter failed"]}), "must contain NVRM"),
    (lambda e: e.update({"kernel": ["NVRM: ("]}), "kernel"),
    (lambda e: e.pop("basis"), "needs basis"),
    (lambda e: e.update({"nvidia_smi": {"fields": [{"section": "Remapped Rows"}]}}),
     "nvidia_smi.fields[0]"),
    (lambda e: e.update({"colour": "red"}), "unknown field(s) colour"),
])
def test_malformed_events_are_refused_naming_the_entry(monkeypatch, mutate, message) -> None:
    entries = [dict(e) for e in xid._entries()]
    mutate(next(e for e in entries if e.get("event") == "gpu-init-failed"))
    monkeypatch.setattr(xid, "_entries", lambda: entries)
    xid.events.cache_clear()
    try:
        with pytest.raises(xid.CatalogError, match=r"entry 172 \(event gpu-init-failed\)") as exc:
            xid.events()
        assert message in str(exc.value)
    finally:
        xid.events.cache_clear()


# ------------------------------------------------- CUDA's faults in application (pod) logs

# Training entries of heal.yml whose text is an application's CUDA error with no Xid line.
APP_ECC = [e for e in CORPUS if not heldout(e["id"]) and "xid" not in e
           and "ECC error encountered" in e["text"]]


def test_real_application_ecc_errors_are_a_gpu_reset_for_heal() -> None:
    assert len(APP_ECC) >= 5, [e["id"] for e in APP_ECC]
    for entry in APP_ECC:
        # not an NVRM line nor nvidia-smi output: only the pod-log reading sees it
        assert xid.scan(entry["text"], entry["text"]) == [], entry["id"]
        events = xid.scan("", "", entry["text"])
        assert xid.codes(events) == ["cuda-uncorrectable-ecc"], entry["id"]
        assert "ECC" in events[0].line and events[0].line_no >= 1
        # labelled reset, or rma where the thread shows the error recurring on the node: heal
        # drains either way; a single application line cannot tell recurrence, so it resets
        assert entry["xid_class"] in ("reset", "rma")
        assert xid.worst_class(xid.codes(events)) == "reset"


def test_the_driver_s_own_xid_decides_when_it_is_there() -> None:
    app = by_id("heal-accelerate-1192-ecc")["text"]
    contained = "NVRM: Xid (PCI:0000:3b:00): 94, pid=2277, name=python, Contained: SM (0x1)."
    uncontained = "NVRM: Xid (PCI:0000:3b:00): 95, pid=2277, name=python, Uncontained: LTC TAG"
    # Xid 94 (contained, RESTART_APP): the node stays in service despite the application line
    assert xid.codes(xid.scan(contained, "", app)) == [94]
    assert xid.worst_class(xid.codes(xid.scan(contained, "", app))) == "app"
    assert xid.codes(xid.scan(uncontained, "", app)) == [95]
    # a remapping failure in nvidia-smi: RMA; an Xid of another kind does not hide the ECC line
    assert xid.codes(xid.scan("", TWO_GPUS, app)) == ["row-remap-pending", "row-remap-failure"]
    other = "NVRM: Xid (PCI:0000:3b:00): 62, Channel 00000001"
    assert xid.codes(xid.scan(other, "", app)) == [62, "cuda-uncorrectable-ecc"]


def test_an_illegal_memory_access_is_the_application_s() -> None:
    # alexandrosstergiou/SoftPool#52 and laughtervv/DepthAwareCNN#12, verbatim
    text = ("RuntimeError: CUDA error: an illegal memory access was encountered.\n"
            "RuntimeError: cuda runtime error (77) : an illegal memory access was encountered at "
            "/pytorch/aten/src/THC/generic/THCTensorCopy.c:20")
    events = xid.scan("", "", text)
    assert [(e.code, e.line_no) for e in events] == [("cuda-illegal-address", 1),
                                                     ("cuda-illegal-address", 2)]
    assert xid.worst_class(xid.codes(events)) == "app"
    # application strings are never read from the kernel log or nvidia-smi's output
    assert xid.scan(text, text) == []
    assert xid.parse_application("CUDA out of memory. Tried to allocate 20.00 MiB") == []


def test_heal_plan_drains_for_an_application_ecc_error_and_only_reports_an_illegal_access() -> None:
    from kubemedic.heal import plan, policy

    chosen = policy.load_policy(policy.policy_path(None, None))
    scan = {"hosts": {"gpu1": [], "gpu2": []}, "smi": {},
            "app": {"gpu1": by_id("heal-jade-hpc-194-ecc")["text"].splitlines(),
                    "gpu2": ["RuntimeError: CUDA error: an illegal memory access was encountered."]},
            "node_names": {"gpu1": "gpu1", "gpu2": "gpu2"}, "nodes": {}}
    record = plan.heal_record(chosen, scan, dry_run=True)
    assert record["findings"]["gpu1"]["codes"] == ["cuda-uncorrectable-ecc"]
    assert record["findings"]["gpu2"]["codes"] == ["cuda-illegal-address"]
    actions = {p["host"]: [a["name"] for a in p["actions"]] for p in record["plan"]}
    assert actions["gpu1"][:2] == ["cordon", "drain"] and "reboot" in actions["gpu1"]
    assert actions.get("gpu2", ["notify"]) == ["notify"]
    assert record["act"] == []  # dry run


def test_the_scan_greps_pod_logs_for_the_catalog_s_strings(tmp_path) -> None:
    strings = xid.application_strings()
    assert "uncorrectable ecc error encountered" in strings
    assert all(s == s.lower() and len(s) >= 8 for s in strings)
    scan_tasks = (REPO / "roles" / "gpu_heal" / "tasks" / "scan.yml").read_text()
    assert "kubemedic_heal_app_strings" in scan_tasks and "grep -a -h -F -i" in scan_tasks
    # the node-side grep keeps exactly the lines parse_application reads: every real ECC line of
    # the training excerpts, and nothing of a log without them
    pod_log = tmp_path / "0.log"
    texts = [e["text"] for e in APP_ECC] + [by_id("heal-gpud-pr46")["text"]]
    pod_log.write_text("\n".join(texts) + "\n", encoding="utf-8")
    argv = ["grep", "-a", "-h", "-F", "-i"] + [a for s in strings for a in ("-e", s)] + [str(pod_log)]
    kept = subprocess.run(argv, capture_output=True, text=True, check=False).stdout
    expected = [line for text in texts for line in text.splitlines()
                if xid.parse_application(line)]
    assert kept.splitlines() == expected and len(expected) >= len(APP_ECC)


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda e: e.update({"application": ["ECC"]}), "application: a list of fixed strings"),
    (lambda e: e.update({"defers_to": [48, "no-such-event"]}), "defers_to: no-such-event"),
    (lambda e: e.update({"defers_to": "48"}), "defers_to: a list"),
])
def test_malformed_application_events_are_refused(monkeypatch, mutate, message) -> None:
    entries = [dict(e) for e in xid._entries()]
    mutate(next(e for e in entries if e.get("event") == "cuda-uncorrectable-ecc"))
    monkeypatch.setattr(xid, "_entries", lambda: entries)
    xid.events.cache_clear()
    try:
        with pytest.raises(xid.CatalogError, match=message):
            xid.events()
    finally:
        xid.events.cache_clear()
