"""`--diff` shows the files that would change (issue 14 item 4): the CLI keeps every changed
task's diff as {host, task, file, diff} in the run summary and prints it. Regression: before, the
CLI showed no diff at all (ansible-runner runs quiet), and a new file's template diff named only
the rendered temporary source."""

from __future__ import annotations

from kubemedic.engine.progress import ProgressTracker, file_diffs

NEW_TEMPLATE = {
    "changed": True,
    "diff": [{"before": "", "after": "a = 1\n",
              "after_header": "/root/.ansible/tmp/ansible-local-1/tmpx/sysctl.conf.j2"}],
    "invocation": {"module_args": {"dest": "/etc/sysctl.d/90-k.conf", "src": "/root/.ansible/tmp/x"}},
}
EDITED = {"changed": True, "diff": {"before_header": "/etc/x.conf", "after_header": "/etc/x.conf",
                                    "before": "keep\nhand edit\n", "after": "keep\n"}}
APT = {"changed": True, "diff": {"prepared": "The following NEW packages will be installed:\n chrony"}}


def test_new_file_is_named_by_its_destination() -> None:
    [item] = file_diffs(NEW_TEMPLATE, "ansible.builtin.template")
    assert item["file"] == "/etc/sysctl.d/90-k.conf"
    assert "+a = 1" in item["diff"] and "ansible-local" not in item["diff"]


def test_edited_file_shows_the_line_going_away() -> None:
    [item] = file_diffs(EDITED)
    assert item["file"] == "/etc/x.conf" and "\n-hand edit\n" in item["diff"]


def test_prepared_diff_is_named_after_the_module() -> None:
    [item] = file_diffs(APT, "ansible.builtin.apt")
    assert item == {"file": "(apt)", "diff": APT["diff"]["prepared"]}


def test_tracker_keeps_changed_diffs_only() -> None:
    tracker = ProgressTracker()
    for res in (EDITED, {**EDITED, "changed": False}):
        tracker.handle({"event": "runner_on_ok",
                        "event_data": {"host": "n1", "task": "T", "res": res}})
    assert [(d["host"], d["task"], d["file"]) for d in tracker.diffs] == [("n1", "T", "/etc/x.conf")]
