"""``ikel2tp serve`` with a generated configuration inside an interop Topology, for the real-client tests.

    server = Ikel2tpServer(ServerOptions(psk=PSK, users={"alice": PW}), workdir)
    server.start(topo)                       # host process in topo.server_ns (userspace ESP)
    server.start_guest(topo)                 # or inside a real-kernel guest (e.g. dataplane = "xfrm")
    server.status()                          # `ikel2tp status --json` over the control socket (host only)
    server.log_text()                        # what the server logged so far

The pool is the topology's (10.77.1.0/24, gateway 10.77.1.1): the LAN host routes it back to the server's
LAN address, so client traffic reaches 10.77.0.2 through our TUN without masquerading.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ikel2tp.server import control

from .harness import DEFAULT_POOL, GuestRun, HarnessError, Topology

ROOT = Path(__file__).resolve().parents[2]
POOL_GATEWAY = "10.77.1.1"
POOL_PREFIX = "10.77.1."  # client addresses come from the topology's pool
DNS = ("10.77.0.53", "10.77.0.54")
READY_LINE = "ikel2tp serving"


@dataclass(frozen=True)
class ServerOptions:
    """What the tests vary; everything else is the product's default."""

    psk: str
    users: dict[str, str]
    dataplane: str = "userspace"
    phase1: tuple[str, ...] | None = None
    phase2: tuple[str, ...] | None = None
    dns: tuple[str, ...] = DNS
    dpd_interval: int | None = None
    dpd_timeout: int | None = None
    lcp_echo_interval: int | None = None
    lcp_echo_failure: int | None = None
    hello_interval: int | None = None
    extra: dict[str, dict[str, object]] = field(default_factory=dict)  # section -> key -> value

    def render(self, listen: str, state_dir: Path) -> str:
        """The TOML text; strings are quoted with json.dumps, which TOML reads the same way."""
        sections: dict[str, dict[str, object]] = {
            "server": {"listen": [listen], "dataplane": self.dataplane, "state_dir": str(state_dir),
                       "log_level": "debug", "tun_name": "ikel2tp0"},
            "ike": {"psk": self.psk, "phase1": self.phase1, "phase2": self.phase2,
                    "dpd_interval": self.dpd_interval, "dpd_timeout": self.dpd_timeout},
            "l2tp": {"hello_interval": self.hello_interval},
            "ppp": {"dns": list(self.dns), "lcp_echo_interval": self.lcp_echo_interval,
                    "lcp_echo_failure": self.lcp_echo_failure},
            "pool": {"network": DEFAULT_POOL, "gateway": POOL_GATEWAY},
        }
        for name, values in self.extra.items():
            sections.setdefault(name, {}).update(values)
        lines: list[str] = []
        for name, values in sections.items():
            lines.append(f"[{name}]")
            lines += [f"{key} = {_toml(value)}" for key, value in values.items() if value is not None]
        for user, password in self.users.items():
            lines += ["[[users]]", f"name = {_toml(user)}", f"password = {_toml(password)}"]
        return "\n".join(lines) + "\n"


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(str(value))


class Ikel2tpServer:
    """One ``ikel2tp serve`` in a topology: as a host process in ``server_ns`` or as a guest's command."""

    def __init__(self, options: ServerOptions, workdir: Path) -> None:
        self.options = options
        self.workdir = workdir
        self.state_dir = workdir / "state"
        self.config_path = workdir / "server.toml"
        self.process: subprocess.Popen | None = None
        self.guest: GuestRun | None = None
        self._log: Path | None = None

    def _argv(self, python: str, config: str) -> list[str]:
        return [python, "-m", "ikel2tp", "serve", "--config", config]

    def start(self, topo: Topology, timeout: float = 60) -> None:
        """Host process in ``topo.server_ns`` (its TUN and routes live there; forwarding is on)."""
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.config_path.write_text(self.options.render(topo.server_address, self.state_dir))
        self.config_path.chmod(0o600)
        self.process = topo.start_server(self._argv(sys.executable, str(self.config_path)),
                                         env={"PYTHONPATH": str(ROOT)}, cwd=str(ROOT),
                                         log_name="ikel2tp-server.log")
        self._log = topo.workdir / "ikel2tp-server.log"
        self._wait_ready(timeout)

    def start_guest(self, topo: Topology, timeout: float = 240) -> None:
        """Inside a real-kernel guest holding the server's addresses (the XFRM data plane's home).  The
        guest sees the host's root read-only, so the host's Python and this tree run there unchanged."""
        state = "/var/lib/ikel2tp-interop"
        config = "/etc/ikel2tp-interop.toml"
        text = self.options.render(topo.server_address, Path(state))
        self.guest = topo.start_server_guest(
            self._argv(sys.executable, config), env={"PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"},
            files={config: {"text": text, "mode": "0600"}}, boot_timeout=timeout)
        self._log = self.guest.share / "command.log"
        self._wait_ready(timeout)  # Python under TCG: importing the server takes 10-60 s

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if READY_LINE in self.log_text():
                return
            if self.process is not None and self.process.poll() is not None:
                break
            if self.guest is not None and self.guest.process.poll() is not None:
                break
            time.sleep(0.3)
        raise HarnessError(f"ikel2tp serve did not start: {self.log_text()[-3000:]}")

    def log_text(self) -> str:
        try:
            return self._log.read_text(errors="replace") if self._log else ""
        except OSError:
            return ""

    def cli(self, *args: str, timeout: float = 20) -> subprocess.CompletedProcess:
        """An ``ikel2tp`` subcommand against this server's control socket (a host server only)."""
        return subprocess.run([sys.executable, "-m", "ikel2tp", *args, "--config", str(self.config_path)],
                              capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})

    def status(self) -> list[dict]:
        """The sessions, straight from the control socket (what ``ikel2tp status --json`` prints)."""
        try:
            answer = control.request(str(self.state_dir / "control.sock"), {"cmd": "status"})
        except control.ControlError as exc:
            raise HarnessError(f"ikel2tp status: {exc}") from exc
        return answer["sessions"]

    def cli_status(self) -> list[dict]:
        """``ikel2tp status --json`` as an administrator runs it."""
        done = self.cli("status", "--json")
        if done.returncode != 0:
            raise HarnessError(f"ikel2tp status: {done.stdout}{done.stderr}")
        return json.loads(done.stdout)

    def wait_sessions(self, count: int, timeout: float) -> list[dict]:
        """Poll ``status`` until exactly ``count`` sessions are listed; returns the last answer."""
        deadline = time.monotonic() + timeout
        sessions = self.status()
        while len(sessions) != count and time.monotonic() < deadline:
            time.sleep(1)
            sessions = self.status()
        return sessions


class StatusWatch:
    """Polls ``status`` in a thread while clients run: every session row seen, by user (the last one)."""

    def __init__(self, server: Ikel2tpServer, interval: float = 1.0) -> None:
        self.server = server
        self.interval = interval
        self.seen: dict[str, dict] = {}
        self.most = 0  # the most sessions listed at once
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ikel2tp-status-watch", daemon=True)

    def __enter__(self) -> StatusWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                sessions = self.server.status()
            except (HarnessError, ValueError, subprocess.TimeoutExpired) as exc:
                self.errors.append(str(exc)[-300:])
                continue
            self.most = max(self.most, len(sessions))
            for row in sessions:
                if row.get("address"):
                    self.seen[row.get("user") or "?"] = row
