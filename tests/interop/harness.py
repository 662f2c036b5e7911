"""The interop harness: real L2TP/IPsec clients in qemu guests against a server in a network namespace.

    with Topology(kind="nat", clients=2) as topo:
        server = topo.start_server(["python", "-m", "ikel2tp", "serve", "--config", cfg])  # in server_ns
        # or: topo.start_reference_server(ReferenceServer(psk=..., users={...}))  # strongSwan guest
        results = topo.run_clients([ClientSpec("windows", psk=..., user=..., password=...)] * 2)

Topologies (see README.md for the picture): ``direct`` puts clients on the server's public subnet
203.0.113.0/24; ``nat`` puts them on 192.0.2.0/24 behind a MASQUERADE router whose outside is
198.51.100.2, which forces NAT-T like most Windows users. Behind the server sits a LAN namespace
(10.77.0.2, also running ``iperf3 -s``) that clients ping through the tunnel.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import guest, netns
from .profiles import CLIENT_MODULES, PROFILES, SERVER_MODULES, CertAuth, ReferenceServer, client_files

AGENT = Path(__file__).with_name("guest_agent.py")
GUEST_PYTHON = "/usr/bin/python3"  # Debian's, inside the guest (the host root is the guest's root)

LAN_HOST = "10.77.0.2"
LAN_GATEWAY = "10.77.0.1"
LAN_PREFIX = 24
DEFAULT_POOL = "10.77.1.0/24"
# topology kind -> (server public address, client subnet's /24 prefix, client default gateway)
ADDRESSING = {"direct": ("203.0.113.1", "203.0.113", None), "nat": ("198.51.100.1", "192.0.2", "192.0.2.1")}

KEEP_RUNS = 40
RUN_DIR_RE = re.compile(r"^\d{8}-\d{6}-(direct|nat)-[0-9a-f]{6}$")


@dataclass(frozen=True)
class Step:
    name: str
    ok: bool | None
    started: float
    finished: float | None
    error: str | None = None
    detail: object = None

    @property
    def seconds(self) -> float | None:
        return None if self.finished is None else round(self.finished - self.started, 2)


@dataclass(frozen=True)
class ClientSpec:
    """One client run: a profile and credentials (``psk`` or ``cert``), optional ping/iperf checks."""

    profile: str = "windows"
    psk: str | None = None
    user: str = "alice"
    password: str = ""
    cert: CertAuth | None = None
    server: str | None = None  # default: the topology's server public address
    ping_target: str | None = LAN_HOST
    iperf_seconds: int = 0
    disconnect: str = "clean"  # "clean": xl2tpd hang-up + IKE delete; "kill": power off without goodbye
    ike_timeout: int = 30
    l2tp_timeout: int = 30
    ppp_timeout: int = 30


@dataclass
class ClientResult:
    """How far a client got, as data. ``reached`` is the last step that succeeded."""

    name: str
    profile: str
    steps: list[Step]
    reached: str | None
    failed_step: str | None
    error: str | None
    assigned_address: str | None
    dns: list[str]
    ping_ok: bool
    iperf_mbps: float | None
    ike: dict
    log_dir: Path
    boot_seconds: float | None
    wall_seconds: float
    finished: bool

    @property
    def ok(self) -> bool:
        return self.finished and self.failed_step is None and self.error is None

    def step(self, name: str) -> Step | None:
        return next((s for s in self.steps if s.name == name), None)

    @property
    def logs(self) -> dict[str, Path]:
        return {p.name: p for p in sorted(self.log_dir.iterdir()) if p.suffix in (".log", ".stdout")}

    def to_json(self) -> dict:
        return {
            "name": self.name, "profile": self.profile, "ok": self.ok, "reached": self.reached,
            "failed_step": self.failed_step, "error": self.error, "assigned_address": self.assigned_address,
            "dns": self.dns, "ping_ok": self.ping_ok, "iperf_mbps": self.iperf_mbps, "ike": self.ike,
            "boot_seconds": self.boot_seconds, "wall_seconds": self.wall_seconds, "finished": self.finished,
            "steps": [{"name": s.name, "ok": s.ok, "seconds": s.seconds, "error": s.error, "detail": s.detail}
                      for s in self.steps],
            "log_dir": str(self.log_dir), "logs": sorted(self.logs),
        }

    def summary(self) -> str:
        if self.ok:
            return f"{self.name}: ok ({self.reached}) address={self.assigned_address} logs={self.log_dir}"
        return f"{self.name}: stopped at {self.failed_step or self.reached}: {self.error} logs={self.log_dir}"


@dataclass
class GuestRun:
    """A booted guest: its qemu process and the results directory it writes into."""

    name: str
    share: Path
    process: subprocess.Popen
    started: float = field(default_factory=time.monotonic)

    def status(self) -> dict:
        try:
            return json.loads((self.share / "status.json").read_text())
        except (OSError, ValueError):
            return {}

    def wait(self, timeout: float) -> dict:
        """Wait for the guest to power off by itself (e.g. its command exited); stop it after ``timeout``."""
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop(timeout=15)
        return self.status()

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the agent to finish (it collects logs and powers off), then kill qemu by PID if it lingers."""
        (self.share / "stop").touch()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            netns.stop_process(self.process)


class HarnessError(RuntimeError):
    pass


class Topology:
    """Namespaces, bridges and (optionally) a NAT router for one test; a context manager that cleans up."""

    def __init__(self, kind: str = "direct", clients: int = 1, *, pool: str = DEFAULT_POOL,
                 image: guest.GuestImage | None = None, workdir: Path | None = None) -> None:
        if kind not in ADDRESSING:
            raise ValueError(f"topology kind {kind!r}: expected 'direct' or 'nat'")
        if not 1 <= clients <= 8:
            raise ValueError("clients must be 1..8")
        self.kind = kind
        self.clients = clients
        self.pool = pool
        self.image = image
        token = secrets.token_hex(3)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.workdir = workdir or guest.cache_dir() / "runs" / f"{stamp}-{kind}-{token}"
        self.nets = netns.Namespaces(f"ikio{token}")
        self.server_ns = self.nets.ns("srv")
        self.lan_ns = self.nets.ns("lan")
        self.client_ns = self.nets.ns("cli")
        self.server_address, self.client_prefix, self.client_gateway = ADDRESSING[kind]
        self.nat_address = "198.51.100.2" if kind == "nat" else None
        self.lan_host = LAN_HOST
        self.lan_gateway = LAN_GATEWAY
        self._server_mode: str | None = None
        self._guests: list[GuestRun] = []
        self._runs = 0

    # -- lifecycle ------------------------------------------------------------------------------------
    def __enter__(self) -> Topology:
        try:
            self.setup()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def setup(self) -> None:
        if self.image is None:
            self.image = guest.prepare()
        _prune_runs(self.workdir.parent)
        self.workdir.mkdir(parents=True, exist_ok=True)
        n = self.nets
        srv, lan, cli = n.add("srv"), n.add("lan"), n.add("cli")
        n.bridge(srv, "brpub")
        n.bridge(srv, "brlan")
        n.veth(lan, "eth0", srv, "lan0")
        n.ip(srv, "link", "set", "lan0", "master", "brlan")
        n.addr(lan, "eth0", f"{LAN_HOST}/{LAN_PREFIX}")
        n.ip(lan, "route", "add", self.pool, "via", LAN_GATEWAY)
        n.spawn(lan, ["iperf3", "-s", "-B", LAN_HOST], self.workdir / "lan-iperf3.log")
        n.bridge(cli, "brc")
        if self.kind == "direct":
            n.veth(cli, "up0", srv, "pub0")
        else:
            nat = n.add("nat")
            n.veth(cli, "up0", nat, "in0")
            n.veth(nat, "out0", srv, "pub0")
            n.addr(nat, "in0", f"{self.client_gateway}/24")
            n.addr(nat, "out0", f"{self.nat_address}/24")
            n.sysctl(nat, "net.ipv4.ip_forward", "1")
            n.nft(nat, 'table ip ikio_nat {\n chain post {\n  type nat hook postrouting priority 100;\n'
                       '  oifname "out0" masquerade\n }\n}\n')
        n.ip(cli, "link", "set", "up0", "master", "brc")
        n.ip(srv, "link", "set", "pub0", "master", "brpub")
        for i in range(self.clients):
            n.tap(cli, f"tc{i}", "brc")

    def close(self) -> None:
        for run in self._guests:
            if run.process.poll() is None:
                run.stop(timeout=15)
        problems = self.nets.close()
        if problems:
            raise HarnessError("cleanup: " + "; ".join(problems))

    # -- servers --------------------------------------------------------------------------------------
    def _claim_server(self, mode: str) -> None:
        if self._server_mode is not None:
            raise HarnessError(f"this topology already has a server ({self._server_mode})")
        self._server_mode = mode

    def start_server(self, argv: list[str], env: dict[str, str] | None = None, *, cwd: str | None = None,
                     log_name: str = "server.log") -> subprocess.Popen:
        """Run a server on the host inside ``server_ns``: public address on ``brpub``, LAN gateway on
        ``brlan``, forwarding on. Killed by PID when the topology closes."""
        self._claim_server("host")
        n = self.nets
        n.addr(self.server_ns, "brpub", f"{self.server_address}/24")
        n.addr(self.server_ns, "brlan", f"{LAN_GATEWAY}/{LAN_PREFIX}")
        n.sysctl(self.server_ns, "net.ipv4.ip_forward", "1")
        return n.spawn(self.server_ns, argv, self.workdir / log_name, env=env, cwd=cwd)

    def start_reference_server(self, server: ReferenceServer, *, boot_timeout: float = 120) -> GuestRun:
        """strongSwan + xl2tpd + pppd in a guest bridged to ``brpub``/``brlan``; returns when it is ready."""
        files = server.files(self.server_address)
        return self._server_guest("reference-server", {"files": files}, boot_timeout)

    def start_server_guest(self, argv: list[str], env: dict[str, str] | None = None, *,
                           files: dict[str, dict] | None = None, boot_timeout: float = 120) -> GuestRun:
        """Run ``argv`` inside a real-kernel guest that holds the server's addresses (e.g. the XFRM data
        plane). Ready means network and modules are up and the command was started."""
        extra = {"argv": argv, "env": env or {}, "files": files or {}}
        return self._server_guest("command", extra, boot_timeout)

    def _server_guest(self, role: str, extra: dict, boot_timeout: float) -> GuestRun:
        self._claim_server(role)
        n = self.nets
        n.tap(self.server_ns, "tsrv0", "brpub")
        n.tap(self.server_ns, "tsrv1", "brlan")
        config = {"role": role, "name": "server", "modules": list(SERVER_MODULES), "forward": True,
                  "nics": [{"address": f"{self.server_address}/24"},
                           {"address": f"{LAN_GATEWAY}/{LAN_PREFIX}"}], **extra}
        run = self._boot(self.server_ns, "server", config,
                         [guest.Nic("tsrv0", "52:54:00:49:4b:01"), guest.Nic("tsrv1", "52:54:00:49:4b:02")])
        deadline = time.monotonic() + boot_timeout
        while time.monotonic() < deadline:
            status = run.status()
            if status.get("ready"):
                return run
            if status.get("done") or run.process.poll() is not None:
                break
            time.sleep(0.5)
        run.stop(timeout=10)
        failed = [s for s in run.status().get("steps", []) if s.get("ok") is False]
        why = f"{failed[0]['name']}: {failed[0]['error']}" if failed else "not ready in time"
        raise HarnessError(f"server guest did not come up ({why}); logs in {run.share}")

    # -- clients --------------------------------------------------------------------------------------
    def run_client(self, spec: ClientSpec | None = None, /, *, timeout: float = 240,
                   **kwargs) -> ClientResult:
        """One client from boot to disconnect; ``kwargs`` build a ClientSpec when ``spec`` is not given."""
        return self.run_clients([spec or ClientSpec(**kwargs)], timeout=timeout)[0]

    def run_clients(self, specs: list[ClientSpec], *, timeout: float = 300) -> list[ClientResult]:
        """Boot one guest per spec at once. With several, each waits after ``dns`` until all are connected
        (or failed), then they ping together: so they are connected at the same time."""
        if not 1 <= len(specs) <= self.clients:
            raise ValueError(f"this topology has {self.clients} client slot(s), {len(specs)} clients asked")
        barrier = len(specs) > 1
        runs = []
        for slot, spec in enumerate(specs):
            if spec.profile not in PROFILES:
                raise ValueError(f"unknown profile {spec.profile!r}; known: {', '.join(PROFILES)}")
            self._runs += 1
            name = f"client{slot}-{spec.profile}-{self._runs}"
            server = spec.server or self.server_address
            config = {
                "role": "client", "name": name, "modules": list(CLIENT_MODULES), "forward": False,
                "nics": [{"address": f"{self.client_prefix}.{10 + slot}/24"}], "gateway": self.client_gateway,
                "files": client_files(PROFILES[spec.profile], server, spec.user, spec.password, psk=spec.psk,
                                      cert=spec.cert),
                "ping_target": spec.ping_target, "iperf_seconds": spec.iperf_seconds,
                "disconnect": spec.disconnect, "ike_timeout": spec.ike_timeout,
                "l2tp_timeout": spec.l2tp_timeout, "ppp_timeout": spec.ppp_timeout,
                "barrier": barrier, "barrier_timeout": timeout,
            }
            nic = guest.Nic(f"tc{slot}", f"52:54:00:49:43:{slot:02x}")
            runs.append(self._boot(self.client_ns, name, config, [nic]))
        deadline = time.monotonic() + timeout
        released = not barrier
        while time.monotonic() < deadline and any(r.process.poll() is None for r in runs):
            if not released and all(_waiting_or_done(r.status()) for r in runs):
                for r in runs:
                    (r.share / "go").touch()
                released = True
            time.sleep(0.5)
        for r in runs:
            if r.process.poll() is None:
                r.stop(timeout=15)
        return [_client_result(r, spec) for r, spec in zip(runs, specs, strict=True)]

    # -- guests ---------------------------------------------------------------------------------------
    def _boot(self, ns: str, name: str, config: dict, nics: list[guest.Nic]) -> GuestRun:
        share = self.workdir / name
        share.mkdir(parents=True)
        shutil.copy(AGENT, share / "guest_agent.py")
        (share / "config.json").write_text(json.dumps(config, indent=1))
        (share / "config.json").chmod(0o600)
        init = share / "init.sh"
        init.write_text(f"#!/bin/sh\nexport PATH=/usr/sbin:/usr/bin:/sbin:/bin\ncd /interop\n"
                        f"{GUEST_PYTHON} /interop/guest_agent.py > /interop/agent.log 2>&1\n"
                        f"echo b > /proc/sysrq-trigger\n")
        init.chmod(0o755)
        process = self.nets.spawn(ns, guest.qemu_argv(self.image, share, nics), share / "qemu.log")
        run = GuestRun(name, share, process)
        self._guests.append(run)
        return run


def _prune_runs(runs: Path, keep: int = KEEP_RUNS) -> None:
    """Delete the oldest harness run directories beyond ``keep`` (only ``<time>-<kind>-<token>`` names)."""
    if not runs.is_dir():
        return
    ours = sorted(p for p in runs.iterdir() if p.is_dir() and RUN_DIR_RE.match(p.name))
    for old in ours[:-keep] if len(ours) > keep else []:
        shutil.rmtree(old, ignore_errors=True)


def _waiting_or_done(status: dict) -> bool:
    if status.get("done"):
        return True
    steps = status.get("steps", [])
    return bool(steps) and steps[-1]["name"] == "barrier"


def _client_result(run: GuestRun, spec: ClientSpec) -> ClientResult:
    status = run.status()
    steps = [Step(s["name"], s["ok"], s["started"], s["finished"], s.get("error"), s.get("detail"))
             for s in status.get("steps", [])]
    failed = next((s for s in steps if s.ok is False), None)
    unfinished = next((s for s in steps if s.ok is None), None)
    reached = next((s.name for s in reversed(steps) if s.ok), None)
    error = failed.error if failed else status.get("error")
    finished = bool(status.get("done"))
    if not finished:
        where = unfinished.name if unfinished else (reached or "boot")
        error = error or f"guest did not finish in time (during {where}); see console.log"
    ike: dict = {}
    for name in ("ike_sa", "child_sa"):
        step = next((s for s in steps if s.name == name and isinstance(s.detail, dict)), None)
        if step:
            ike.update(step.detail)
    return ClientResult(
        name=run.name, profile=spec.profile, steps=steps, reached=reached,
        failed_step=failed.name if failed else (unfinished.name if unfinished and not finished else None),
        error=error, assigned_address=status.get("assigned_address"), dns=status.get("dns", []),
        ping_ok=bool(status.get("ping_ok")), iperf_mbps=status.get("iperf_mbps"), ike=ike, log_dir=run.share,
        boot_seconds=status.get("boot_seconds"), wall_seconds=round(time.monotonic() - run.started, 1),
        finished=finished,
    )
