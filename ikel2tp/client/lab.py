"""A load-test lab in network namespaces: the server's, the clients' and, for the NAT topology, a
router between them.  Everything it makes is named after this process's PID and removed by
:meth:`Lab.close` (processes are stopped by their PID, namespaces deleted by name).

Direct topology (each client has its own documentation-range address, on the clients' loopback)::

    [clients] lo 198.51.100.x/32, 203.0.113.x/32; c0 192.0.2.3 ── s0 192.0.2.1/24 [server]

NAT topology (every client behind one address, told apart by source port)::

    [clients] lo 10.64.x.y/32; c0 10.63.0.2 ── r0 10.63.0.1 [router: masquerade] r1 192.0.2.2 ── s0 192.0.2.1
"""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

SERVER_IP = "192.0.2.1"
ROUTER_IP = "192.0.2.2"
CLIENT_LINK_IP = "192.0.2.3"  # the clients' namespace on the direct link
INSIDE = ipaddress.IPv4Network("10.64.0.0/16")  # client addresses behind the NAT
INSIDE_ROUTER, INSIDE_CLIENT = "10.63.0.1", "10.63.0.2"  # the link between router and clients
DIRECT_RANGES = (ipaddress.IPv4Network("198.51.100.0/24"), ipaddress.IPv4Network("203.0.113.0/24"))
CLI = [sys.executable, "-c", "from ikel2tp.cli.main import app; app()"]
CLK_TCK = os.sysconf("SC_CLK_TCK")
SOFTETHER = "/usr/libexec/softether/vpnserver/vpnserver"
SOFTETHER_DIRS = {"lib": "/var/lib/softether", "log": "/var/log/softether", "run": "/run/softether"}
"""Where Debian's SoftEther keeps state, logs and its lock (compiled in)."""


def run(*args: str, stdin: str | None = None) -> str:
    done = subprocess.run(list(args), input=stdin, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def client_addresses(count: int, nat: bool) -> list[str]:
    """``count`` distinct client source addresses for the topology."""
    if nat:
        hosts = INSIDE.hosts()
        pool = [str(next(hosts)) for _ in range(min(count, INSIDE.num_addresses - 2))]
    else:
        pool = [str(h) for net in DIRECT_RANGES for h in net.hosts()][:count]
    if len(pool) < count:
        raise ValueError(f"the direct topology has {len(pool)} client addresses; use --nat for more")
    return pool


@dataclass(frozen=True)
class ProcSample:
    """CPU seconds (user + system) and resident memory of one process, from /proc."""

    cpu: float
    rss_kib: int
    at: float
    waited: float  # seconds the main thread was runnable but waiting for a CPU (schedstat)


def sample(pid: int) -> ProcSample:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14, 15 of proc(5))
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    with open(f"/proc/{pid}/schedstat") as f:
        waited = int(f.read().split()[1]) / 1e9
    return ProcSample(cpu, rss, time.monotonic(), waited)


SERVER_CONFIG = """\
[server]
listen = ["{server_ip}"]
dataplane = "userspace"
state_dir = "{state}"
log_level = "{log_level}"
tun_name = "iklg0"
[ike]
psk = "{psk}"
force_encapsulation = true
max_half_open = 1000000
max_half_open_per_source = 1000000
[l2tp]
max_tunnels = 65535
[pool]
network = "{pool}"
[[users]]
name = "{user}"
password = "{password}"
"""


def pool_for(clients: int) -> str:
    """A pool network with room for ``clients`` addresses plus the gateway."""
    bits = max(8, (clients + 3).bit_length())
    return str(ipaddress.IPv4Network(f"10.96.0.0/{32 - bits}"))


class Lab:
    """The namespaces and the server process of one load run."""

    def __init__(self, workdir: Path, *, nat: bool, tag: str | None = None) -> None:
        self.workdir = workdir
        self.nat = nat
        self.tag = tag or f"iklg{os.getpid() % 100000}"
        self.server_ns = f"{self.tag}s"
        self.client_ns = f"{self.tag}c"
        self.router_ns = f"{self.tag}r" if nat else None
        self.namespaces: list[str] = []
        self.processes: list[subprocess.Popen] = []
        self.pids: list[int] = []  # processes we did not start directly (a server's worker child)
        self.server: subprocess.Popen | None = None
        self.server_log: Path = workdir / "server.log"

    @property
    def server_ip(self) -> str:
        return SERVER_IP

    def _netns(self, name: str) -> None:
        run("ip", "netns", "add", name)
        self.namespaces.append(name)
        run("ip", "-n", name, "link", "set", "lo", "up")

    def build(self, addresses: list[str]) -> None:
        """Make the namespaces; ``addresses`` go on the clients' loopback and are routed through one
        next hop (one neighbour entry for thousands of clients: the kernel's ARP table is global and
        overflows at ``gc_thresh3``, 1024 by default)."""
        s, c = self.server_ns, self.client_ns
        self._netns(s)
        self._netns(c)
        if self.router_ns is None:
            run("ip", "-n", s, "link", "add", "s0", "type", "veth", "peer", "name", "c0", "netns", c)
            run("ip", "-n", s, "addr", "add", f"{SERVER_IP}/24", "dev", "s0")
            run("ip", "-n", c, "addr", "add", f"{CLIENT_LINK_IP}/24", "dev", "c0")
            self._up(s, "s0")
            self._up(c, "c0")
            for net in DIRECT_RANGES:
                run("ip", "-n", s, "route", "add", str(net), "via", CLIENT_LINK_IP)
        else:
            r = self.router_ns
            self._netns(r)
            run("ip", "-n", s, "link", "add", "s0", "type", "veth", "peer", "name", "r1", "netns", r)
            run("ip", "-n", r, "link", "add", "r0", "type", "veth", "peer", "name", "c0", "netns", c)
            run("ip", "-n", s, "addr", "add", f"{SERVER_IP}/24", "dev", "s0")
            run("ip", "-n", r, "addr", "add", f"{ROUTER_IP}/24", "dev", "r1")
            run("ip", "-n", r, "addr", "add", f"{INSIDE_ROUTER}/30", "dev", "r0")
            run("ip", "-n", c, "addr", "add", f"{INSIDE_CLIENT}/30", "dev", "c0")
            self._up(s, "s0")
            self._up(c, "c0")
            self._up(r, "r0")
            self._up(r, "r1")
            run("ip", "-n", r, "route", "add", str(INSIDE), "via", INSIDE_CLIENT)
            run("ip", "-n", c, "route", "add", "default", "via", INSIDE_ROUTER)
            run("ip", "netns", "exec", r, "sysctl", "-qw", "net.ipv4.ip_forward=1")
            run("ip", "netns", "exec", r, "nft", "-f", "-", stdin=(
                "table ip iklg {\n chain post {\n"
                "  type nat hook postrouting priority srcnat; policy accept;\n"
                f'  oifname "r1" ip saddr {INSIDE} masquerade\n }}\n}}\n'))
        batch = [f"address add {a}/32 dev lo" for a in addresses]
        if batch:
            run("ip", "-n", c, "-batch", "-", stdin="\n".join(batch) + "\n")
        for name in self.namespaces:  # room for bursts of 1400-byte ESP
            run("ip", "netns", "exec", name, "sysctl", "-qw", "net.core.rmem_max=8388608",
                "net.core.wmem_max=8388608")

    @staticmethod
    def _up(namespace: str, link: str) -> None:
        run("ip", "-n", namespace, "link", "set", link, "up")

    def start_server(self, *, clients: int, psk: str, user: str, password: str, cpu: int | None = 0,
                     log_level: str = "warning", timeout: float = 20.0) -> int:
        """``ikel2tp serve`` in the server namespace with a generated configuration; its PID."""
        state = self.workdir / "state"
        config = self.workdir / "server.toml"
        config.write_text(SERVER_CONFIG.format(server_ip=SERVER_IP, state=state, log_level=log_level, psk=psk,
                                               pool=pool_for(clients), user=user, password=password))
        config.chmod(0o600)
        log = open(self.server_log, "w")  # noqa: SIM115 (the child keeps it; closed right after)
        pin = ["taskset", "-c", str(cpu)] if cpu is not None else []
        self.server = subprocess.Popen(["ip", "netns", "exec", self.server_ns, *pin, *CLI, "serve",
                                        "--config", str(config)], stdout=log, stderr=log,
                                       cwd=Path(__file__).resolve().parents[2])
        log.close()
        self.processes.append(self.server)
        socket_path = state / "control.sock"
        deadline = time.monotonic() + timeout
        while not socket_path.exists():
            if self.server.poll() is not None or time.monotonic() > deadline:
                tail = self.server_log.read_text()[-2000:]
                raise RuntimeError(f"ikel2tp serve did not start:\n{tail}")
            time.sleep(0.05)
        return self.server.pid

    def start_softether(self, *, psk: str, user: str, password: str, cpu: int | None = 0,
                        timeout: float = 30.0) -> int:
        """SoftEther VPN Server (Debian ``softether-vpnserver``) in the server namespace, its state and
        log directories bind-mounted from the work directory (a private mount namespace), configured
        with ``vpncmd``: L2TP/IPsec with ``psk``, one user, SecureNAT (its virtual DHCP server and
        gateway) and its keep-alive to softether.org off (the namespace has no route out anyway).
        Returns the PID of the worker process (``execsvc`` forks one; both are stopped on close)."""
        dirs = {name: self.workdir / "softether" / name for name in ("lib", "log", "run")}
        for path in dirs.values():
            path.mkdir(parents=True, exist_ok=True)
        for target in SOFTETHER_DIRS.values():
            Path(target).mkdir(parents=True, exist_ok=True)
        mounts = " && ".join(f"mount --bind {dirs[name]} {target}" for name, target in SOFTETHER_DIRS.items())
        pin = f"taskset -c {cpu} " if cpu is not None else ""
        log = open(self.server_log, "w")  # noqa: SIM115 (the child keeps it; closed right after)
        script = f"{mounts} && exec {pin}{SOFTETHER} execsvc"
        command = ["ip", "netns", "exec", self.server_ns, "unshare", "--mount", "sh", "-c", script]
        self.server = subprocess.Popen(command, stdout=log, stderr=log)
        log.close()
        self.processes.append(self.server)
        deadline = time.monotonic() + timeout
        commands = [["IPsecEnable", "/L2TP:yes", "/L2TPRAW:no", "/ETHERIP:no", f"/PSK:{psk}",
                     "/DEFAULTHUB:DEFAULT"], ["KeepDisable"]]
        hub = [["UserCreate", user, "/GROUP:none", "/REALNAME:none", "/NOTE:none"],
               ["UserPasswordSet", user, f"/PASSWORD:{password}"], ["SecureNatEnable"]]
        vpncmd = ["ip", "netns", "exec", self.server_ns, "vpncmd", "127.0.0.1:5555", "/SERVER"]
        while True:
            done = subprocess.run([*vpncmd, "/CMD", "ServerStatusGet"], capture_output=True, text=True,
                                  timeout=30)
            if done.returncode == 0:
                break
            if self.server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"SoftEther did not start: {done.stdout[-500:]}")
            time.sleep(0.5)
        for command in commands:
            run(*vpncmd, "/CMD", *command)
        for command in hub:
            run(*vpncmd, "/ADMINHUB:DEFAULT", "/CMD", *command)
        children = Path(f"/proc/{self.server.pid}/task/{self.server.pid}/children").read_text().split()
        if not children:
            return self.server.pid
        self.pids.append(int(children[0]))
        return int(children[0])

    def track(self, process: subprocess.Popen) -> subprocess.Popen:
        """Stop ``process`` (by PID) when the lab closes."""
        self.processes.append(process)
        return process

    def spawn(self, args: list[str], *, cpu: int | None = 1, **popen) -> subprocess.Popen:
        """A process in the clients' namespace (pinned to ``cpu``), stopped by PID on close."""
        pin = ["taskset", "-c", str(cpu)] if cpu is not None else []
        process = subprocess.Popen(["ip", "netns", "exec", self.client_ns, *pin, *args], **popen)
        self.processes.append(process)
        return process

    def stop_server(self, timeout: float = 10.0) -> int | None:
        if self.server is None:
            return None
        stop(self.server, timeout)
        for pid in self.pids:  # SoftEther's worker outlives its parent
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            deadline = time.monotonic() + timeout
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
        return self.server.returncode

    def close(self) -> None:
        for process in reversed(self.processes):
            stop(process, 5.0)
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for name in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)
        self.namespaces.clear()


def _alive(pid: int) -> bool:
    """Running (not gone, not a zombie)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def stop(process: subprocess.Popen, timeout: float) -> None:
    """SIGTERM, then SIGKILL, by PID."""
    if process.poll() is not None:
        return
    try:
        os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(5)
    except ProcessLookupError:
        pass
