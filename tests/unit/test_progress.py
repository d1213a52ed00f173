"""ProgressTracker: counts per host, failures and the reports debug tasks give the operator."""

from kubemedic.engine.progress import ProgressTracker


def _event(kind: str, host: str, task: str, res: dict, action: str = "ansible.builtin.command",
           **extra) -> dict:
    return {"event": kind, "event_data": {"host": host, "task": task, "res": res,
                                          "task_action": action, **extra}}


def test_counts_changed_and_failed_per_host() -> None:
    tracker = ProgressTracker()
    tracker.handle(_event("runner_on_ok", "n1", "a", {"changed": True}))
    tracker.handle(_event("runner_on_ok", "n1", "b", {"changed": False}))
    line = tracker.handle(_event("runner_on_failed", "n2", "c", {"msg": "boom\nmore"}))
    assert (tracker.hosts["n1"].changed, tracker.hosts["n1"].ok) == (1, 1)
    assert tracker.hosts["n2"].failed == 1
    assert line == "FAILED      n2: c: boom"
    assert tracker.failures == [{"host": "n2", "task": "c", "outcome": "failed",
                                 "message": "boom\nmore"}]


def test_ignored_failure_counts_as_ok() -> None:
    tracker = ProgressTracker()
    tracker.handle(_event("runner_on_failed", "n1", "a", {"msg": "x"}, ignore_errors=True))
    assert tracker.hosts["n1"].ok == 1 and not tracker.failures


def test_debug_messages_become_reports() -> None:
    tracker = ProgressTracker()
    line = tracker.handle(_event("runner_on_ok", "n1", "what was missing",
                                 {"msg": "missing before remount: [\"/share\"]"},
                                 action="ansible.builtin.debug"))
    tracker.handle(_event("runner_on_ok", "n1", "listed", {"msg": ["one", "two"]},
                          action="debug"))
    assert line == 'ok          n1: what was missing: missing before remount: ["/share"]'
    assert [r["message"] for r in tracker.reports] == ['missing before remount: ["/share"]',
                                                       "one\ntwo"]


def test_no_log_and_non_debug_results_are_not_reported() -> None:
    tracker = ProgressTracker()
    tracker.handle(_event("runner_on_ok", "n1", "secret", {"msg": "pw", "_ansible_no_log": True},
                          action="ansible.builtin.debug"))
    tracker.handle(_event("runner_on_ok", "n1", "hidden", {
        "msg": "the output has been hidden due to the fact that 'no_log: true' was specified "
               "for this result, censored"}, action="ansible.builtin.debug"))
    tracker.handle(_event("runner_on_ok", "n1", "cmd", {"msg": "non-debug"}))
    assert tracker.reports == []


def test_a_command_failure_keeps_the_tail_of_what_the_command_said() -> None:
    tracker = ProgressTracker()
    stderr = "W0 noise\n" * 400 + "error execution phase wait-control-plane: timed out"
    line = tracker.handle(_event("runner_on_failed", "n1", "kubeadm init",
                                 {"msg": "non-zero return code", "rc": 1, "stderr": stderr}))
    message = tracker.failures[0]["message"]
    assert line == "FAILED      n1: kubeadm init: non-zero return code: W0 noise"
    assert message.endswith("error execution phase wait-control-plane: timed out")
    assert len(message) < 1600


def test_a_loop_failure_names_each_failed_item_and_its_error() -> None:
    """Not Ansible's bare "One or more items failed" (a CI failure of `ctr images push` said
    only that)."""
    tracker = ProgressTracker()
    tracker.handle(_event("runner_on_failed", "n1", "containerd push", {
        "msg": "One or more items failed", "results": [
            {"failed": False, "_ansible_item_label": "reg:5000/pause:3.2", "stderr": ""},
            {"failed": True, "_ansible_item_label": "reg:5000/etcd:3.4.13-0", "rc": 1,
             "msg": "non-zero return code", "stderr": "ctr: failed to do request: EOF"},
            {"failed": True, "censored": "the output has been hidden due to no_log"}]}))
    assert tracker.failures[0]["message"] == (
        "reg:5000/etcd:3.4.13-0: non-zero return code: ctr: failed to do request: EOF\n"
        "?: the output has been hidden due to no_log")


def test_an_unreachable_host_keeps_its_reason() -> None:
    tracker = ProgressTracker()
    tracker.handle(_event("runner_on_unreachable", "n1", "ping",
                          {"msg": "Failed to connect to the host via ssh: refused"}))
    assert tracker.failures[0]["message"] == "Failed to connect to the host via ssh: refused"


def test_the_recap_prints_failures_and_reports_in_their_own_brackets(tmp_path, capsys) -> None:
    """kubeadm says "[kubeconfig]", nginx "[emerg]", a path may hold "[/x]": printed as
    written, not taken for rich markup (which dropped them or raised MarkupError)."""
    from kubemedic.engine import records
    from kubemedic.engine.runner import RunResult
    from kubemedic.options import RunOptions, report

    summary = records.RunSummary(customer="acme", verb="bootstrap", playbook="site.yml",
                                 started="2026-12-06T10:00:00+00:00")
    summary.rc = 3
    summary.failures = [{"host": "n1", "task": "kubeadm init [x]", "outcome": "failed",
                         "message": '[kubeconfig] Writing "admin.conf"\n[emerg] bad [/x]'}]
    summary.reports = [{"host": "n1", "task": "found", "message": "[/etc] kept"}]
    options = RunOptions(customer="acme", limit=None, tags=[], skip_tags=[], extravars={},
                         check=False, diff=False, verbose=0, yes=True, json_output=False)
    report(options, RunResult(rc=3, summary=summary, record=tmp_path))
    printed = capsys.readouterr().err
    for text in ('[kubeconfig] Writing "admin.conf"', "[emerg] bad [/x]", "kubeadm init [x]",
                 "[/etc] kept"):
        assert text in printed, printed
