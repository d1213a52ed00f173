"""A lab node "reboots": `systemctl reboot` inside a podman node stops its container (no machine
to restart); RebootStandIn starts it again, as the machine would come back. Used by the modules
whose repairs reboot nodes (heal, kernel upgrade)."""

from __future__ import annotations

import threading

from kubemedic.lab import lab as lab_mod


class RebootStandIn:
    """Starts a lab node container again whenever it stops (stands in for a machine rebooting)."""

    def __init__(self, containers: list[str]) -> None:
        self.containers = containers
        self.restarts: dict[str, int] = dict.fromkeys(containers, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for name in self.containers:
                state = lab_mod.podman("inspect", "-f", "{{.State.Running}}", name,
                                       check=False).stdout.strip()
                if state == "false":
                    lab_mod.podman("start", name, check=False)
                    self.restarts[name] += 1
            self._stop.wait(1)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
