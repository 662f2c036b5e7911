"""The asyncio shell: sockets, TUN, one timer, signals and the control socket around a :class:`Gateway`.

Start-up either builds everything (sockets, data plane, TUN, masquerade table, control socket) or
undoes what it built and exits 1 with the reason: a half-configured server never runs.

Every input source is a ``loop.add_reader`` callback that drains its socket or device, hands the
batch to the gateway, pumps the cores' outputs and re-arms the single timer at the earliest core
deadline.  SIGTERM/SIGINT say goodbye to every peer and remove all state; SIGHUP reloads users and
pre-shared keys from the configuration file without dropping sessions.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path
from typing import Any

from ikel2tp.common.errors import ConfigError
from ikel2tp.config import Config, ensure_default_config, load_config
from ikel2tp.proposals.history import CONTROL_COMMAND
from ikel2tp.server import settings
from ikel2tp.server.control import ControlServer
from ikel2tp.server.keyexport import IkeKeyExport
from ikel2tp.server.logs import configure_logging
from ikel2tp.server.nat import Masquerade
from ikel2tp.server.radius import RadiusSessions, start_radius
from ikel2tp.server.transport import Datagram, Kind, Transport
from ikel2tp.server.tun import Tun

log = logging.getLogger("ikel2tp.server")

TUN_DRAIN_LIMIT = 256
MIN_TIMER_DELAY = 0.001


class StartupError(Exception):
    """Something the server needs could not be set up; the message says what and why."""


class _IO:
    """:class:`~ikel2tp.server.wiring.ServerIO` over the daemon's sockets and TUN."""

    def __init__(self, transport: Transport, tun: Tun) -> None:
        self._transport = transport
        self._tun = tun

    def send_ike(self, data: bytes, local: tuple[str, int], remote: tuple[str, int]) -> None:
        self._transport.send_ike(data, local, remote)

    def send_l2tp_plain(self, data: bytes, local: tuple[str, int], remote: tuple[str, int]) -> None:
        self._transport.send_l2tp(data, local, remote)

    def tun_write(self, packet: bytes) -> None:
        self._tun.write(packet)

    def add_route(self, address: str) -> None:
        try:
            self._tun.add_route(address)
        except Exception as exc:  # netlink refused: the client stays up but unreachable; say so
            log.error("cannot add the route to %s on %s: %s", address, self._tun.name, exc)

    def remove_route(self, address: str) -> None:
        self._tun.remove_route(address)


class Daemon:
    """One running server."""

    def __init__(self, config: Config, *, config_path: str | None = None,
                 export_ike_keys: str | None = None) -> None:
        self.config = config
        self.config_path = config_path
        self.export_ike_keys = export_ike_keys
        self.loop: asyncio.AbstractEventLoop | None = None
        self.transport: Transport | None = None
        self.tun: Tun | None = None
        self.masquerade: Masquerade | None = None
        self.dataplane: Any = None
        self.gateway: Any = None
        self.control: ControlServer | None = None
        self.radius: RadiusSessions | None = None  # [radius]
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._stop = asyncio.Event()
        self._in_batch = False  # inside _on_datagrams: it pumps at the end
        self._flush_scheduled = False

    # -- start-up ----------------------------------------------------------------------------
    async def start(self) -> None:
        """Build everything or nothing: on failure, undo what was built and raise StartupError."""
        self.loop = asyncio.get_running_loop()
        try:
            self._build()
            self.radius = await start_radius(self.config, self.gateway, clock=self.loop.time, log=log)
            self.control = ControlServer(self.config.server.control_socket, self._control, log)
            await self.control.start()
        except StartupError:
            await self._teardown()
            raise
        except (OSError, ValueError, ConfigError) as exc:
            await self._teardown()
            raise StartupError(str(exc)) from exc
        self._rearm()

    def _build(self) -> None:
        cfg = self.config
        server = cfg.server
        settings.check(cfg)  # what the cores cannot take fails here, before anything is set up
        self.transport = Transport(self.loop, self._on_datagrams)
        for address in server.listen:
            self._listen(Kind.IKE, address, server.ike_port, "IKE")
            self._listen(Kind.NATT, address, server.natt_port, "NAT-T: IKE and ESP in UDP")
            if not cfg.l2tp.require_ipsec:
                self._listen(Kind.L2TP, address, cfg.l2tp.plain_port,
                             "PLAINTEXT L2TP, l2tp.require_ipsec = false", level=logging.WARNING)
        self.dataplane, esp_sink = settings.make_dataplane(cfg, self.transport, log)
        gateway_address = str(cfg.pool.gateway)
        try:
            self.tun = Tun(server.tun_name, gateway_address, mtu=cfg.ppp.mtu, log=log)
        except OSError as exc:
            raise StartupError(str(exc)) from exc
        if server.masquerade:
            self.masquerade = Masquerade(cfg.pool.network, server.tun_name, server.masquerade, log)
        self.gateway = settings.make_gateway(cfg, self.dataplane, _IO(self.transport, self.tun),
                                             clock=self.loop.time, esp_sink=esp_sink, log=log)
        self.gateway.on_async_output = self._rearm
        if self.export_ike_keys is not None:
            try:
                self.gateway.key_export = IkeKeyExport(Path(self.export_ike_keys), log)
            except OSError as exc:
                raise StartupError(f"cannot write the IKE key export {self.export_ike_keys}: "
                                   f"{exc.strerror or exc}") from exc
        self.dataplane.on_l2tp = self._on_l2tp
        self.loop.add_reader(self.tun.fd, self._on_tun)

    def _listen(self, kind: Kind, address: str, port: int, what: str, level: int = logging.INFO) -> None:
        try:
            endpoint = self.transport.open(kind, address, port)
        except OSError as exc:
            raise StartupError(f"cannot listen on UDP {address}:{port}: {exc.strerror}") from exc
        log.log(level, "listening on UDP %s:%d (%s)", endpoint.local[0], endpoint.local[1], what)

    # -- input -------------------------------------------------------------------------------
    def _on_datagrams(self, batch: list[Datagram]) -> None:
        now = self.loop.time()
        gateway = self.gateway
        if gateway is None:
            return  # still starting (or stopping): nothing to hand it to
        self._in_batch = True
        try:
            for item in batch:
                if item.kind == "ike":
                    gateway.ike_input(item.data, item.local, item.remote, now)
                    # Install what this message completed before the next datagram: a client's
                    # first ESP (its SCCRQ) often follows Quick Mode's last message in one batch.
                    gateway.pump(now)
                elif item.kind == "esp":
                    gateway.esp_input(item.data, item.local, item.remote, now)
                elif item.kind == "keepalive":
                    gateway.keepalive_input(item.local, item.remote, now)
                else:
                    gateway.plain_l2tp_input(item.data, item.local, item.remote, now)
            gateway.pump(now)
        except Exception:  # a bug must not take every other client down with it
            log.exception("internal error while handling %d datagram(s)", len(batch))
        finally:
            self._in_batch = False
        self._rearm()

    def _on_l2tp(self, handle: Any, payload: bytes, peer_port: int) -> None:
        """The data plane delivers L2TP: inside one of our batches (ESP in UDP 4500), or from its
        own reader (raw ESP, the kernel's L2TP sockets), after which nobody else would pump."""
        if self.gateway is None:
            return
        self.gateway.l2tp_input(handle, payload, peer_port, self.loop.time())
        if not self._in_batch and not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self.gateway is None:
            return
        try:
            self.gateway.pump(self.loop.time())
        except Exception:
            log.exception("internal error while handling L2TP from the data plane")
        self._rearm()

    def _on_tun(self) -> None:
        now = self.loop.time()
        try:
            for _ in range(TUN_DRAIN_LIMIT):
                packet = self.tun.read()
                if packet is None:
                    break
                self.gateway.tun_input(packet, now)
            self.gateway.pump(now)
        except Exception:
            log.exception("internal error while handling TUN packets")
        self._rearm()

    def _on_timer(self) -> None:
        self._timer = self._timer_at = None
        now = self.loop.time()
        try:
            self.gateway.timer(now)
            self.gateway.pump(now)
        except Exception:
            log.exception("internal error in a timer")
        self._rearm()

    def _rearm(self) -> None:
        """One timer for the whole server, at the earliest deadline of any core."""
        if self.gateway is None:
            return
        deadline = self.gateway.next_deadline()
        if deadline == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = self._timer_at = None
        if deadline is not None:
            # A deadline already past runs at once, but never in a tight loop if a core keeps
            # reporting one it does not act on.
            when = max(deadline, self.loop.time() + MIN_TIMER_DELAY)
            self._timer = self.loop.call_at(when, self._on_timer)
            self._timer_at = deadline

    # -- control -----------------------------------------------------------------------------
    def _control(self, request: dict[str, Any]) -> dict[str, Any]:
        now = self.loop.time()
        command = request["cmd"]
        if command == "status":
            return {"ok": True, "sessions": self.gateway.status(now)}
        if command == "kick":
            target = request.get("target")
            if not isinstance(target, str) or not target:
                return {"ok": False, "error": "kick needs a target: a user name or an address"}
            kicked = self.gateway.kick(target, now)
            self._rearm()
            return {"ok": True, "kicked": kicked}
        if command == CONTROL_COMMAND:
            peer = request.get("peer")
            if peer is not None and not isinstance(peer, str):
                return {"ok": False, "error": "refusals: peer must be an address or null"}
            return {"ok": True, "refusals": self.gateway.refusals.as_json(peer or None)}
        return self.reload()

    def reload(self) -> dict[str, Any]:
        """Re-read users (with their static addresses) and pre-shared keys; sessions stay up.  A bad
        file changes nothing."""
        if self.gateway is None:
            return {"ok": False, "error": "the server is stopping"}
        try:
            if self.config_path is not None:
                new = load_config(self.config_path)
            else:
                new, _ = ensure_default_config(self.config.server.state_dir)
            settings.check(new)
            # Checked and applied first: a newly static address is reserved before anyone else
            # can be given it; a conflict refuses the whole reload with nothing changed.
            self.gateway.pool.reload_static({u.name: u.static_ip for u in new.users
                                             if u.static_ip is not None})
        except (ConfigError, ValueError) as exc:
            log.error("reload refused, keeping the running configuration: %s", exc)
            return {"ok": False, "error": f"reload refused: {exc}"}
        settings.reload(self.gateway, new)
        self.config = new
        log.info("reloaded %d user(s) and the pre-shared keys from %s", len(new.users), new.source)
        return {"ok": True, "message": f"reloaded {len(new.users)} user(s) and the pre-shared keys"}

    # -- running and stopping ----------------------------------------------------------------
    def request_stop(self, why: str) -> None:
        log.info("%s: shutting down", why)
        self._stop.set()

    async def serve_forever(self) -> None:
        self.loop.add_signal_handler(signal.SIGTERM, self.request_stop, "SIGTERM")
        self.loop.add_signal_handler(signal.SIGINT, self.request_stop, "SIGINT")
        self.loop.add_signal_handler(signal.SIGHUP, self.reload)
        log.info("ikel2tp serving (pid %d); %s", os.getpid(), self.config.summary())
        try:
            await self._stop.wait()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                self.loop.remove_signal_handler(sig)
            await self.stop()

    async def stop(self) -> None:
        """Goodbye to every peer (LCP Terminate, StopCCN, IKE Delete), then remove all state."""
        if self.gateway is not None:
            try:
                self.gateway.shutdown(self.loop.time())
            except Exception:
                log.exception("internal error while saying goodbye to the peers")
        if self.radius is not None:
            await self.radius.stop()  # the sessions' accounting Stops first (at most 5 s)
            self.radius = None
        await self._teardown()

    async def _teardown(self) -> None:
        if self.radius is not None:
            self.radius.close()
            self.radius = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.control is not None:
            await self.control.close()
            self.control = None
        if self.tun is not None:
            self.loop.remove_reader(self.tun.fd)
        self.gateway = None
        if self.dataplane is not None:
            self.dataplane.close()
            self.dataplane = None
        if self.masquerade is not None:
            self.masquerade.remove()
            self.masquerade = None
        if self.tun is not None:
            self.tun.close()
            self.tun = None
        if self.transport is not None:
            self.transport.close()
            self.transport = None


async def _main(config: Config, config_path: str | None, export_ike_keys: str | None) -> int:
    daemon = Daemon(config, config_path=config_path, export_ike_keys=export_ike_keys)
    try:
        await daemon.start()
    except StartupError as exc:
        log.error("cannot start: %s", exc)
        return 1
    await daemon.serve_forever()
    log.info("stopped")
    return 0


def run(config: Config, *, config_path: str | None = None, export_ike_keys: str | None = None) -> int:
    """Run the server until SIGTERM/SIGINT; the exit status (0, or 1 when it could not start).

    ``export_ike_keys``: debug only, a file to write each IKE SA's decryption-table line to
    (:mod:`ikel2tp.server.keyexport`)."""
    configure_logging(config.server.log_level, config.server.log_format)
    for warning in config.warnings:
        log.warning("%s: %s", config.source, warning)
    return asyncio.run(_main(config, config_path, export_ike_keys))
