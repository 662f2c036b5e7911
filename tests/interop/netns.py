"""Network namespaces, veths, bridges and TAPs for the interop topologies (iproute2 and nft, run as root).

Everything created here is owned by one ``Namespaces`` object and removed by it; processes started in a
namespace are tracked by PID and killed by PID, never by name.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import time
from pathlib import Path

PR_SET_PDEATHSIG = 1  # linux/prctl.h


class NetnsError(RuntimeError):
    pass


def run(argv: list[str], *, stdin: str | None = None, check: bool = True) -> str:
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=30)
    if check and proc.returncode != 0:
        raise NetnsError(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


class Namespaces:
    """Named namespaces made for one topology; ``close()`` kills their processes and deletes them."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.names: list[str] = []
        self.procs: list[subprocess.Popen] = []

    def ns(self, role: str) -> str:
        return f"{self.prefix}-{role}"

    def add(self, role: str) -> str:
        name = self.ns(role)
        run(["ip", "netns", "add", name])
        self.names.append(name)
        self.ip(name, "link", "set", "lo", "up")
        return name

    def ip(self, ns: str, *args: str) -> str:
        return run(["ip", "-n", ns, *args])

    def sysctl(self, ns: str, key: str, value: str) -> None:
        path = "/proc/sys/" + key.replace(".", "/")
        run(["ip", "netns", "exec", ns, "sh", "-c", f"echo {value} > {path}"])

    def bridge(self, ns: str, name: str) -> None:
        self.ip(ns, "link", "add", name, "type", "bridge")
        self.ip(ns, "link", "set", name, "up")

    def veth(self, ns_a: str, name_a: str, ns_b: str, name_b: str) -> None:
        self.ip(ns_a, "link", "add", name_a, "type", "veth", "peer", "name", name_b, "netns", ns_b)
        self.ip(ns_a, "link", "set", name_a, "up")
        self.ip(ns_b, "link", "set", name_b, "up")

    def tap(self, ns: str, name: str, bridge: str) -> None:
        self.ip(ns, "tuntap", "add", "dev", name, "mode", "tap")
        self.ip(ns, "link", "set", name, "master", bridge, "up")

    def addr(self, ns: str, dev: str, cidr: str) -> None:
        self.ip(ns, "addr", "add", cidr, "dev", dev)

    def nft(self, ns: str, ruleset: str) -> None:
        run(["ip", "netns", "exec", ns, "nft", "-f", "-"], stdin=ruleset)

    def spawn(self, ns: str, argv: list[str], log: Path, env: dict[str, str] | None = None,
              cwd: str | None = None) -> subprocess.Popen:
        """Start ``argv`` inside ``ns`` (``ip netns exec`` execs it, so the PID is the program's)."""
        out = open(log, "ab")  # noqa: SIM115 - handed to the child
        try:
            proc = subprocess.Popen(["ip", "netns", "exec", ns, *argv], stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})}, cwd=cwd,
                                    start_new_session=True, preexec_fn=_die_with_parent)
        finally:
            out.close()
        self.procs.append(proc)
        return proc

    def close(self) -> list[str]:
        """Kill every process started here (by PID), then delete the namespaces. Returns problems seen."""
        problems = []
        for proc in self.procs:
            stop_process(proc)
        self.procs.clear()
        for name in reversed(self.names):
            try:
                run(["ip", "netns", "del", name])
            except NetnsError as exc:
                problems.append(str(exc))
        self.names.clear()
        return problems


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL it if the harness dies (prctl PR_SET_PDEATHSIG), so a killed test
    run leaves no qemu behind. Survives the exec of ``ip netns exec`` and of the program it runs."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def stop_process(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; by PID only."""
    if proc.poll() is not None:
        return
    try:
        os.kill(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return
        time.sleep(0.1)
    try:
        os.kill(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    proc.wait(timeout=10)
