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
