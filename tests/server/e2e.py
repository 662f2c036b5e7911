"""End to end inside a network namespace: ``ikel2tp serve`` as a subprocess, and our own client stack
(IKEv1 initiator, userspace ESP in UDP 4500, the test LAC, a client-role PPP link) against it, until
an ICMP echo crosses the server's TUN device and the kernel's answer comes back.

Run as ``unshare --net python -m tests.server.e2e WORKDIR [natt|raw|plain|refused]`` (test_e2e.py does):
``natt`` forces ESP in UDP 4500, ``raw`` lets the client send plain ESP (IP protocol 50), ``plain``
is L2TP without IPsec (the lab-only ``require_ipsec = false``), ``refused`` runs clients the server
refuses and reads ``ikel2tp proposals last`` and an ``explain --decrypt`` of the capture: everything it
creates lives in that namespace and goes with it.  It prints one JSON line with how far it got.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ikel2tp.client.packets import echo_request
from ikel2tp.dataplane.userspace import UserspaceDataPlane
from ikel2tp.ike.events import ChildSaEstablished, Phase1Established, Phase1Failed, QuickModeFailed
from ikel2tp.ike.manager import IkeManager
from ikel2tp.ike.settings import IkeSettings
from ikel2tp.l2tp.constants import AvpType, MessageType
from ikel2tp.ppp.auth.credentials import ClientLogin
from ikel2tp.ppp.events import IpPacketReceived, LinkDown, NetworkUp
from ikel2tp.ppp.link import PppLink
from ikel2tp.ppp.settings import PppSettings, Role
from ikel2tp.proposals import pcap
from ikel2tp.server.control import request
from ikel2tp.server.transport import Datagram, Kind, Transport
from tests.l2tp.lac import Lac

SERVER_IP = "127.0.0.1"
CLIENT_IP = "127.0.0.2"
PSK = "e2e-pre-shared-key-0123456789"
USER, PASSWORD = "alice", "alice-e2e-password"
GATEWAY = "10.77.0.1"
CONFIG = f"""
[server]
listen = ["{SERVER_IP}"]
dataplane = "userspace"
state_dir = "{{state}}"
log_level = "debug"
tun_name = "ikel2tp-e2e"
[ike]
psk = "{PSK}"
force_encapsulation = {{force}}
[pool]
network = "10.77.0.0/24"
[[users]]
name = "{USER}"
password = "{PASSWORD}"
"""
PLAIN = "[l2tp]\nrequire_ipsec = false\n"
PR_SET_PDEATHSIG = 1  # linux/prctl.h
CLI = [sys.executable, "-c", "from ikel2tp.cli.main import app; app()"]
log = logging.getLogger("e2e.client")


class ClientStack:
    """One L2TP/IPsec client, driven by the asyncio loop like the server is."""

    def __init__(self, loop: asyncio.AbstractEventLoop, *, raw: bool = False, plain: bool = False,
                 client_ip: str = CLIENT_IP, server_ip: str = SERVER_IP, user: str = USER,
                 password: str = PASSWORD, psk: str = PSK, ike: dict | None = None) -> None:
        self.loop = loop
        self.client_ip, self.server_ip = client_ip, server_ip
        self.steps: list[str] = []
        self.transport = Transport(loop, self.on_datagrams)
        self.plain = plain  # L2TP without IPsec (the server's require_ipsec = false lab mode)
        if plain:
            self.transport.open(Kind.L2TP, client_ip, 1701)
        else:
            self.transport.open(Kind.IKE, client_ip, 500)
            self.transport.open(Kind.NATT, client_ip, 4500)
        self.dataplane = UserspaceDataPlane(log=logging.getLogger("e2e.esp"))
        self.dataplane.attach_udp(self.transport.send_esp_udp)
        if raw:  # on loopback this socket also sees the server's own ESP: unknown SPIs, dropped
            self.dataplane.open_raw(loop)
        self.dataplane.on_l2tp = self.on_l2tp
        self.ike = IkeManager(IkeSettings(psk=psk.encode(), **(ike or {})),
                              spi_allocator=self.dataplane.allocate_spi, log=logging.getLogger("e2e.ike"))
        self.ike_records: list[tuple[float, tuple, tuple, bytes]] = []  # (time, src, dst, ISAKMP)
        self.lac = Lac(tunnel_id=4242)
        self.ppp = PppLink(PppSettings(), log=logging.getLogger("e2e.ppp"), name="client", role=Role.CLIENT,
                           login=ClientLogin(user, password))
        self.handle = None
        self.session_id = 0
        self.address: str | None = None
        self.replies: list[bytes] = []
        self.down: str | None = None
        self.echo_replies = 0
        self.done = asyncio.Event()

    def step(self, name: str) -> None:
        self.steps.append(name)
        log.info("client: %s", name)

    def start(self) -> None:
        if self.plain:
            self.send_l2tp(self.lac.sccrq())
            return
        self.ike.initiate((self.client_ip, 500), (self.server_ip, 500), self.loop.time())
        self.pump()

    def on_datagrams(self, batch: list[Datagram]) -> None:
        now = self.loop.time()
        for item in batch:
            if item.kind == "ike":
                self.ike_records.append((time.time(), item.remote, item.local, item.data))
                self.ike.receive_datagram(item.data, item.local, item.remote, now)
            elif item.kind == "esp":
                self.dataplane.receive_udp_esp(item.data, item.remote, item.local)
            elif item.kind == "l2tp":
                self.on_l2tp(None, item.data, item.remote[1])
        self.pump()

    def on_l2tp(self, handle, payload: bytes, peer_port: int) -> None:
        received = self.lac.receive(payload)
        now = self.loop.time()
        message = received.message
        if message is None:
            if not received.header.control:
                frame = received.payload
                self.ppp.receive_frame(frame[2:] if frame[:2] == b"\xff\x03" else frame, now)
            return
        if message.message_type == MessageType.SCCRP:
            self.step("L2TP SCCRP")
            self.lac.lns_tunnel_id = message.get(AvpType.ASSIGNED_TUNNEL_ID)
            self.send_l2tp(self.lac.scccn(message))
            self.send_l2tp(self.lac.icrq(9))
        elif message.message_type == MessageType.ICRP:
            self.step("L2TP ICRP")
            self.session_id = message.get(AvpType.ASSIGNED_SESSION_ID)
            self.send_l2tp(self.lac.iccn(self.session_id))
            self.ppp.start(now)
        elif message.message_type in (MessageType.StopCCN, MessageType.CDN):
            self.step(f"L2TP {message.name}")
            self.send_l2tp(self.lac.zlb())

    def send_l2tp(self, data: bytes) -> None:
        if self.plain:
            self.transport.send_l2tp(data, (self.client_ip, 1701), (self.server_ip, 1701))
        else:
            self.dataplane.send_l2tp(self.handle, data, 1701)

    def pump(self) -> None:
        for data, local, remote in self.ike.datagrams_to_send():
            self.ike_records.append((time.time(), local, remote, data))
            self.transport.send_ike(data, local, remote)
        while (event := self.ike.next_event()) is not None:
            if isinstance(event, (Phase1Failed, QuickModeFailed)):
                self.step(f"IKE failed: {event.reason}")
            elif isinstance(event, Phase1Established):
                self.step(f"IKE phase 1 ({event.suite})")
            elif isinstance(event, ChildSaEstablished):
                self.step(f"IKE phase 2 (encap={event.child.encap})")
                self.handle = self.dataplane.install(event.child)
                self.send_l2tp(self.lac.sccrq())
        for frame in self.ppp.frames_to_send():
            self.send_l2tp(self.lac.data(self.session_id, b"\xff\x03" + frame))
        while (event := self.ppp.next_event()) is not None:
            if isinstance(event, NetworkUp):
                self.address = str(event.local_address)
                self.step(f"IPCP address {self.address}")
                self.ppp.send_ip(echo_request(self.address, GATEWAY))
                self.pump()
            elif isinstance(event, IpPacketReceived):
                self.replies.append(event.packet)
                if event.packet[9] == 1 and event.packet[20] == 0:
                    self.echo_replies += 1
                    if not self.done.is_set():
                        self.step("ICMP echo reply through the TUN")
                    self.done.set()
            elif isinstance(event, LinkDown):
                self.down = event.reason
                self.step(f"PPP down: {event.reason}")

    async def tick(self) -> None:
        while True:
            await asyncio.sleep(0.05)
            now = self.loop.time()
            for core in (self.ike, self.ppp):
                deadline = core.get_timer()
                if deadline is not None and deadline <= now:
                    core.handle_timer(now)
            self.pump()

    def close(self) -> None:
        self.dataplane.close()
        self.transport.close()


async def status(config: Path, *, cli: bool = False) -> object:
    """The server's sessions: through ``ikel2tp status --json`` or straight from the control socket."""
    if cli:
        done = await asyncio.to_thread(subprocess.run, [*CLI, "status", "--json", "--config", str(config)],
                                       capture_output=True, text=True, timeout=10)
        return json.loads(done.stdout) if done.returncode == 0 else done.stderr
    socket_path = str(config.parent / "state" / "control.sock")
    answer = await asyncio.to_thread(request, socket_path, {"cmd": "status"})
    return answer["sessions"]


def die_with_parent() -> None:
    """In the server's child process: if this script is killed (a test timeout), so is the server."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def ip(*args: str) -> str:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=True).stdout


async def run(workdir: Path, mode: str) -> dict:
    result: dict = {"steps": []}
    ip("link", "set", "lo", "up")
    state = workdir / "state"
    config = workdir / "e2e.toml"
    force = "true" if mode == "natt" else "false"
    config.write_text(CONFIG.format(state=state, force=force) + PLAIN * (mode == "plain"))
    server = start_server(workdir, config)
    result["server_pid"] = server.pid
    loop = asyncio.get_running_loop()
    client = None
    ticker = None
    try:
        if not await server_started(server, config):
            result["error"] = "server did not start"
            return result
        client = ClientStack(loop, raw=mode == "raw", plain=mode == "plain")
        ticker = asyncio.ensure_future(client.tick())
        client.start()
        try:
            await asyncio.wait_for(client.done.wait(), 20)
        except TimeoutError:
            result["error"] = "no echo reply within 20 s"
        result["steps"] = list(client.steps)
        result["status"] = await status(config, cli=True)
        result["route"] = ip("route", "show", "dev", "ikel2tp-e2e")
        # A second server with the same sockets must refuse to start and leave the first alone.
        second = await asyncio.to_thread(subprocess.run, [*CLI, "serve", "--config", str(config)],
                                         capture_output=True, text=True, timeout=20)
        result["second"] = {"exit": second.returncode, "stderr": second.stderr[-2000:]}
        # SIGHUP: a new user and a new PSK are read; the connected session stays.
        config.write_text(CONFIG.format(state=state, force=force).replace(PSK, PSK + "-new")
                          + PLAIN * (mode == "plain")
                          + '[[users]]\nname = "bob"\npassword = "bob-e2e-password"\n')
        server.send_signal(signal.SIGHUP)
        await asyncio.sleep(0.5)
        result["after_reload"] = await status(config)
        # A reload with a broken file is refused; the running configuration and session stay.
        good = config.read_text()
        config.write_text(good + "[bogus]\n")
        result["bad_reload"] = await asyncio.to_thread(request, str(state / "control.sock"),
                                                       {"cmd": "reload"})
        config.write_text(good)
        if mode == "raw":  # the administrator disconnects the user (the natt run keeps it for SIGTERM)
            kicked = await asyncio.to_thread(subprocess.run, [*CLI, "kick", USER, "--config", str(config)],
                                             capture_output=True, text=True, timeout=10)
            result["kick"] = {"exit": kicked.returncode, "stdout": kicked.stdout}
            await asyncio.sleep(0.5)
            result["after_kick"] = await status(config)
            result["steps_after_kick"] = list(client.steps)
    finally:
        result["exit"], killed = await stop_server(server)  # the client's loop sees the goodbyes
        if killed:
            result["killed"] = True
        if client is not None:
            result["steps"] = list(client.steps)
            ticker.cancel()
            client.close()
        result["links_after"] = ip("link")
    return result


async def client_only(server_ip: str, client_ip: str, user: str, password: str, seconds: float) -> dict:
    """One client in its own namespace (behind a NAT): connect, then ping the gateway every 0.1 s for
    ``seconds`` while another client does the same."""
    loop = asyncio.get_running_loop()
    client = ClientStack(loop, raw=False, client_ip=client_ip, server_ip=server_ip, user=user,
                         password=password)
    ticker = asyncio.ensure_future(client.tick())
    result: dict = {}
    try:
        client.start()
        await asyncio.wait_for(client.done.wait(), 30)
        sent = 0
        end = loop.time() + seconds
        while loop.time() < end:
            client.ppp.send_ip(echo_request(client.address, GATEWAY, ident=sent))
            client.pump()
            sent += 1
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.3)
        result = {"address": client.address, "sent": sent, "replies": client.echo_replies - 1}
    except TimeoutError:
        result = {"error": "not connected within 30 s"}
    finally:
        result["steps"] = list(client.steps)
        ticker.cancel()
        client.close()
    return result


def start_server(workdir: Path, config: Path, *extra: str) -> subprocess.Popen:
    """``ikel2tp serve`` as a child that dies with this script, logging to WORKDIR/server.log."""
    with open(workdir / "server.log", "w") as server_log:
        return subprocess.Popen([*CLI, "serve", "--config", str(config), *extra], stderr=server_log,
                                stdout=server_log, cwd=os.getcwd(), preexec_fn=die_with_parent)


async def server_started(server: subprocess.Popen, config: Path) -> bool:
    """Whether the server's control socket appeared within 30 s (a loaded machine starts Python slowly)."""
    socket_path = config.parent / "state" / "control.sock"
    for _ in range(600):
        if socket_path.exists() or server.poll() is not None:
            break
        await asyncio.sleep(0.05)
    return socket_path.exists()


async def stop_server(server: subprocess.Popen) -> tuple[int, bool]:
    """SIGTERM, up to 10 s for the goodbyes (this loop keeps running the clients), then SIGKILL:
    the exit status and whether it had to be killed."""
    killed = False
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while server.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if server.poll() is None:
            server.kill()
            killed = True
    return server.wait(), killed


async def cli(*args: str) -> dict:
    done = await asyncio.to_thread(subprocess.run, [*CLI, *args], capture_output=True, text=True, timeout=20)
    return {"exit": done.returncode, "stdout": done.stdout, "stderr": done.stderr[-2000:]}


# Clients that the server refuses, each from its own loopback address: (address, PSK, IKE settings).
REFUSED_CLIENTS = {
    "psk": ("127.0.0.3", PSK + "-wrong", {}),
    "phase1": ("127.0.0.4", PSK, {"phase1": ("aes256-md5-modp2048",)}),
    "phase2": ("127.0.0.5", PSK, {"phase2": ("aes128-md5",)}),
}


async def refused(workdir: Path) -> dict:
    """Three clients the server refuses (wrong PSK, phase 1 hash, phase 2 integrity), with the IKE
    keys exported; then ``ikel2tp proposals last`` and ``explain --decrypt`` of the phase 2 capture."""
    ip("link", "set", "lo", "up")
    config = workdir / "e2e.toml"
    config.write_text(CONFIG.format(state=workdir / "state", force="false"))
    keys = workdir / "ike-keys.txt"
    result: dict = {}
    server = start_server(workdir, config, "--export-ike-keys", str(keys))
    if not await server_started(server, config):
        await stop_server(server)
        return {"error": "server did not start"}
    loop = asyncio.get_running_loop()
    clients = {name: ClientStack(loop, client_ip=address, psk=psk, ike=ike)
               for name, (address, psk, ike) in REFUSED_CLIENTS.items()}
    tickers = [asyncio.ensure_future(c.tick()) for c in clients.values()]
    socket_path = str(workdir / "state" / "control.sock")
    try:
        for client in clients.values():
            client.start()
        records: list = []
        for _ in range(200):  # up to 20 s for the three refusals
            await asyncio.sleep(0.1)
            answer = await asyncio.to_thread(request, socket_path, {"cmd": "refusals", "peer": None})
            records = answer.get("refusals", [])
            if len({r["peer"] for r in records}) == 3:
                break
        result["refusals"] = records
        result["last"] = await cli("proposals", "last", "--config", str(config))
        result["last_phase1"] = await cli("proposals", "last", "127.0.0.4", "--config", str(config))
        result["keys_mode"] = oct(keys.stat().st_mode & 0o777)
        result["keys"] = keys.read_text()
        phase2 = clients["phase2"]
        result["client_sas"] = [[sa.icookie.hex(), sa.keys.enc_key.hex()] for sa in phase2.ike.ike_sas()
                                if sa.keys is not None]
        capture = workdir / "phase2.pcap"
        capture.write_bytes(pcap.write_pcap([(t, pcap.frame(src, dst, pcap.ike_payload(src, dst, data)))
                                        for t, src, dst, data in phase2.ike_records]))
        result["explain"] = await cli("proposals", "explain", str(capture), "--decrypt", str(keys),
                                      "--config", str(config))
        result["steps"] = {name: c.steps for name, c in clients.items()}
    finally:
        for ticker in tickers:
            ticker.cancel()
        for client in clients.values():
            client.close()
        result["exit"], _ = await stop_server(server)
    return result


def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s: %(message)s")
    if sys.argv[1] == "client":  # client SERVER_IP CLIENT_IP USER PASSWORD SECONDS
        server_ip, client_ip, user, password, seconds = sys.argv[2:7]
        print(json.dumps(asyncio.run(client_only(server_ip, client_ip, user, password, float(seconds)))))
        return
    mode = sys.argv[2] if len(sys.argv) > 2 else "natt"
    if mode == "refused":
        print(json.dumps(asyncio.run(refused(Path(sys.argv[1])))))
        return
    print(json.dumps(asyncio.run(run(Path(sys.argv[1]), mode))))


if __name__ == "__main__":
    main()
