"""Linux kernel ESP data plane over XFRM netlink: the production fast path on kernels with ESP.

What we install, per SA pair (transport mode, one Quick Mode):

* an **inbound SA** (peer -> us, ``spi_in``) and an **outbound SA** (us -> peer, ``spi_out``), both
  with our *reqid* ``R`` and, for NAT-T, ``UDP_ENCAP_ESPINUDP`` with the peer's NAT-T port.  The
  inbound SA carries ``XFRMA_SET_MARK = R``: after decryption the kernel marks the packet with it.
* an **L2TP send socket** for the pair: UDP bound to (local address, 1701) with ``SO_REUSEADDR`` and
  a per-socket output policy (``IP_XFRM_POLICY``) whose template names reqid ``R``.

Two clients behind one NAT have the same outer address and the same inner port 1701, so their
transport-mode selectors are identical (``server[udp/1701] <-> nat[udp/1701]``): any design that
picks the SA from a global policy sends both clients' L2TP through one SA, which is why
strongSwan/Libreswan + xl2tpd break the first client.  Here nothing is chosen by selector:

* **outbound**: each SA pair has its own socket whose socket policy names *its* reqid, and the kernel
  looks up the outbound SA by (peer address, reqid): replies to client A can only use A's SA;
* **inbound**: every L2TP socket has ``SO_RCVMARK``; each datagram arrives with the mark its inbound
  SA set, which names the SA pair (:class:`~ikel2tp.dataplane.base.SaHandle`) exactly as the SPI does
  in the userspace backend.  A datagram without one of our marks did not come through one of our SAs
  and is dropped (``no-sa``); every L2TP socket also has an input socket policy requiring ESP, so
  the kernel already refuses plaintext L2TP (RFC 4301 §5.2 inbound policy check).

Marks were preferred over one XFRM interface (``if_id``) per client: no network device per client, no
routing, and ``SO_RCVMARK`` (Linux 5.19) plus input ``set_mark`` (Linux 5.x) are all it needs.

The IKE sockets get a bypass socket policy (:func:`set_ike_bypass`) and port 4500 the
``UDP_ENCAP_ESPINUDP`` socket option (:func:`enable_udp_encap`) so the kernel takes ESP off it and
passes only IKE (after the non-ESP marker) and keepalives to the shell.

Ownership: reqids (and marks) ``REQID_BASE .. REQID_BASE + 0xFFFE`` are ours.  At start-up the
backend dumps the kernel's SAs and deletes those in our range (left by a crash); :meth:`close`
deletes everything it installed.  Nothing outside the range is touched.  Socket policies vanish
with their sockets.

Counters come from XFRM_MSG_GETSA (``curlft`` bytes/packets, replay and integrity failures); soft
and hard expiry arrive as XFRM_MSG_EXPIRE on the ``XFRMNLGRP_EXPIRE`` multicast group.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket
import struct
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from ikel2tp.dataplane.base import L2tpReceiver, SaCounters, SaExpired, SaHandle, SpiAllocator, UdpSender
from ikel2tp.dataplane.xfrm_netlink import (
    PROBE_REQID,
    PolicyDir,
    XfrmGroup,
    XfrmMsg,
    XfrmSocket,
    lifetime,
    sa_id_message,
    sa_message,
    selector,
    socket_policy,
    template,
)
from ikel2tp.esp.errors import DropReason
from ikel2tp.esp.transforms import CIPHERS, INTEGRITY
from ikel2tp.ike.events import Address, ChildSaKeys

REQID_BASE = 0x1C2E_0000
REQID_COUNT = PROBE_REQID - REQID_BASE  # PROBE_REQID itself is the probe's
MARK_MASK = 0xFFFF_FFFF

IP_XFRM_POLICY = 17  # linux/in.h
SO_RCVMARK = 75  # asm-generic/socket.h, Linux 5.19+
SOL_UDP = 17
UDP_ENCAP = 100
UDP_ENCAP_ESPINUDP = 2
SOFT_FRACTION = 0.9
_MARK = struct.Struct("=I")

# Kernel crypto API names (what `ip xfrm state` and strongSwan's kernel-netlink use).
KERNEL_CIPHERS = {"aes-cbc": "cbc(aes)", "3des-cbc": "cbc(des3_ede)", "aes-gcm": "rfc4106(gcm(aes))"}
KERNEL_HMACS = {"sha1": "hmac(sha1)", "sha256": "hmac(sha256)", "sha384": "hmac(sha384)",
                "sha512": "hmac(sha512)", "md5": "hmac(md5)"}


def enable_udp_encap(sock: socket.socket) -> None:
    """Let the kernel take ESP-in-UDP off this port-4500 socket (RFC 3948 framing)."""
    sock.setsockopt(SOL_UDP, UDP_ENCAP, UDP_ENCAP_ESPINUDP)


def set_ike_bypass(sock: socket.socket) -> None:
    """Per-socket bypass policies, both directions, so IKE is never caught by an IPsec policy."""
    for direction in (PolicyDir.IN, PolicyDir.OUT):
        sock.setsockopt(socket.IPPROTO_IP, IP_XFRM_POLICY, socket_policy(direction=direction))


def _l2tp_socket(address: Address) -> socket.socket:
    """A UDP/1701 socket that reports the SA mark of each datagram and, by its input socket policy,
    accepts only datagrams that came through ESP (any of our SAs: reqid 0 in the template)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVMARK, 1)
        sock.setsockopt(socket.IPPROTO_IP, IP_XFRM_POLICY, socket_policy(
            direction=PolicyDir.IN, templates=[template(reqid=0)]))
        sock.bind(address)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


@dataclass
class _Pair:
    handle: SaHandle
    keys: ChildSaKeys
    reqid: int
    sock: socket.socket
    drops: Counter[str] = field(default_factory=Counter)


class XfrmDataPlane:
    """The :class:`~ikel2tp.dataplane.base.DataPlane` that installs SAs in the Linux kernel."""

    name = "xfrm"

    def __init__(self, *, log: logging.Logger, l2tp_address: str = "0.0.0.0", l2tp_port: int = 1701,
                 replay_window: int = 128, random: Callable[[int], bytes] = os.urandom,
                 netlink: Callable[..., XfrmSocket] = XfrmSocket) -> None:
        self.on_l2tp: L2tpReceiver | None = None
        self.drops: Counter[str] = Counter()
        self._log = log
        self._l2tp = (l2tp_address, l2tp_port)
        self._replay_window = replay_window
        self._random = random
        self._spis = SpiAllocator(random)
        self._xfrm = netlink()
        self._notify = netlink(groups=(XfrmGroup.EXPIRE,))
        self._pairs: dict[SaHandle, _Pair] = {}
        self._by_mark: dict[int, _Pair] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._events: list[SaExpired] = []
        self.remove_stale()
        self._recv = _l2tp_socket(self._l2tp)

    # -- start-up, sockets -----------------------------------------------------------------------
    def remove_stale(self) -> int:
        """Delete SAs in our reqid range left by an earlier run; how many were removed."""
        removed = 0
        for sa in self._xfrm.request(sa_id_message(dst="0.0.0.0", spi=0), XfrmMsg.GETSA, dump=True):
            if REQID_BASE <= sa["reqid"] <= PROBE_REQID:
                dst = socket.inet_ntoa(sa["id_daddr"][:4])
                try:
                    self._xfrm.request(sa_id_message(dst=dst, spi=sa["id_spi"]), XfrmMsg.DELSA)
                    removed += 1
                except OSError as error:
                    self._log.warning("xfrm: could not remove stale SA %08x to %s: %s", sa["id_spi"], dst,
                                      error)
        if removed:
            self._log.info("xfrm: removed %d SA(s) left by an earlier run", removed)
        return removed

    def prepare_ike_socket(self, sock: socket.socket, natt: bool) -> None:
        """IKE bypasses IPsec policy on every IKE socket; on the NAT-T one the kernel takes ESP off."""
        set_ike_bypass(sock)
        if natt:
            enable_udp_encap(sock)

    def attach(self, loop: asyncio.AbstractEventLoop, send_udp: UdpSender | None = None) -> None:
        """Read the L2TP sockets and expire notifications from ``loop`` (the kernel sends ESP itself,
        so ``send_udp`` is not needed)."""
        self._loop = loop
        loop.add_reader(self._recv.fileno(), self._readable, self._recv)
        loop.add_reader(self._notify.sock.fileno(), self._collect_expiry)
        for pair in self._pairs.values():
            loop.add_reader(pair.sock.fileno(), self._readable, pair.sock)

    def receive_udp_esp(self, data: bytes, remote: Address, local: Address) -> None:
        """ESP the shell read from port 4500: the kernel should have taken it (:func:`enable_udp_encap`
        missing on that socket?), so it is counted and dropped."""
        self.drops[DropReason.WRONG_PATH] += 1
        if self.drops[DropReason.WRONG_PATH] == 1:
            self._log.warning("xfrm: ESP from %s reached the shell on %s; is UDP_ENCAP set on that socket?",
                              remote, local)

    # -- DataPlane -------------------------------------------------------------------------------
    def allocate_spi(self) -> int:
        return self._spis.allocate()

    def install(self, keys: ChildSaKeys) -> SaHandle:
        handle = SaHandle(keys.spi_in, keys.spi_out)
        if handle in self._pairs:
            raise ValueError(f"{handle} is already installed")
        reqid = self._free_reqid()
        local, remote = keys.local[0], keys.remote[0]
        algorithms = self._algorithms(keys)
        limits = self._lifetimes(keys)
        inbound = sa_message(
            src=remote, dst=local, spi=keys.spi_in, reqid=reqid, lifetimes=limits,
            sel=selector(src=remote, dst=local, prefix_src=32, prefix_dst=32, proto=keys.protocol,
                         sport=keys.remote_port, dport=keys.local_port),
            encap=(keys.remote[1], keys.local[1]) if keys.encap else None, set_mark=(reqid, MARK_MASK),
            replay_window=self._replay_window, **algorithms(keys.enc_key_in, keys.auth_key_in))
        outbound = sa_message(
            src=local, dst=remote, spi=keys.spi_out, reqid=reqid, lifetimes=limits,
            sel=selector(src=local, dst=remote, prefix_src=32, prefix_dst=32, proto=keys.protocol,
                         sport=keys.local_port, dport=keys.remote_port),
            encap=(keys.local[1], keys.remote[1]) if keys.encap else None,
            **algorithms(keys.enc_key_out, keys.auth_key_out))
        installed: list[tuple[str, int]] = []
        sock = None
        try:
            self._xfrm.request(inbound, XfrmMsg.NEWSA)
            installed.append((local, keys.spi_in))
            self._xfrm.request(outbound, XfrmMsg.NEWSA)
            installed.append((remote, keys.spi_out))
            sock = _l2tp_socket((self._l2tp[0] if self._l2tp[0] != "0.0.0.0" else local, self._l2tp[1]))
            sock.setsockopt(socket.IPPROTO_IP, IP_XFRM_POLICY, socket_policy(
                direction=PolicyDir.OUT, templates=[template(reqid=reqid, src=local, dst=remote)]))
        except OSError:
            for dst, spi in installed:
                self._delete_sa(dst, spi)
            if sock is not None:
                sock.close()
            raise
        pair = _Pair(handle, keys, reqid, sock)
        self._pairs[handle] = pair
        self._by_mark[reqid] = pair
        self._spis.in_use.add(keys.spi_in)
        if self._loop is not None:
            self._loop.add_reader(sock.fileno(), self._readable, sock)
        self._log.info("xfrm: installed %s (reqid/mark %#x) with %s, %s %s/%d/%s", handle, reqid, keys.remote,
                       "ESP-in-UDP" if keys.encap else "ESP", keys.cipher, keys.key_bits,
                       keys.integrity or "aead")
        return handle

    def delete(self, handle: SaHandle) -> None:
        pair = self._pairs.pop(handle, None)
        if pair is None:
            return
        del self._by_mark[pair.reqid]
        self._spis.release(handle.spi_in)
        self._delete_sa(pair.keys.local[0], handle.spi_in)
        self._delete_sa(pair.keys.remote[0], handle.spi_out)
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(pair.sock.fileno())
        pair.sock.close()
        self._log.info("xfrm: deleted %s", handle)

    def counters(self, handle: SaHandle) -> SaCounters:
        pair = self._pairs[handle]
        counters = SaCounters(drops=Counter(pair.drops))
        for dst, spi, inbound in ((pair.keys.local[0], handle.spi_in, True),
                                  (pair.keys.remote[0], handle.spi_out, False)):
            try:
                (sa,) = self._xfrm.request(sa_id_message(dst=dst, spi=spi), XfrmMsg.GETSA)
            except (OSError, ValueError) as error:
                self._log.debug("xfrm: GETSA %08x: %s", spi, error)
                continue
            if inbound:
                counters.packets_in, counters.bytes_in = sa["cur_packets"], sa["cur_bytes"]
                counters.drops[DropReason.REPLAY] += sa["stats_replay"]
                counters.drops[DropReason.ICV] += sa["stats_integrity_failed"]
            else:
                counters.packets_out, counters.bytes_out = sa["cur_packets"], sa["cur_bytes"]
        counters.drops = Counter({k: v for k, v in counters.drops.items() if v})
        return counters

    def expired(self, now: float) -> list[SaExpired]:
        self._collect_expiry()
        events, self._events = self._events, []
        return events

    def get_timer(self) -> float | None:
        """None: the kernel tracks the SAs' lifetimes itself and reports them (XFRM_MSG_EXPIRE)."""
        return None

    def send_l2tp(self, handle: SaHandle, payload: bytes, peer_port: int) -> None:
        pair = self._pairs.get(handle)
        if pair is None:
            self.drops[DropReason.SA_DELETED] += 1
            return
        try:
            pair.sock.sendto(payload, (pair.keys.remote[0], peer_port))
        except OSError as error:
            pair.drops[DropReason.SEND_FAILED] += 1
            self._log.debug("xfrm: send through %s: %s", handle, error)

    def close(self) -> None:
        for handle in list(self._pairs):
            self.delete(handle)
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self._recv.fileno())
            self._loop.remove_reader(self._notify.sock.fileno())
        self._recv.close()
        self._xfrm.close()
        self._notify.close()

    # -- internals -------------------------------------------------------------------------------
    def _free_reqid(self) -> int:
        for _ in range(REQID_COUNT):
            reqid = REQID_BASE + int.from_bytes(self._random(2), "big") % REQID_COUNT
            if reqid not in self._by_mark:
                return reqid
        raise ValueError("xfrm: every reqid of our range is in use")

    @staticmethod
    def _algorithms(keys: ChildSaKeys) -> Callable[[bytes, bytes], dict]:
        """A function of (enc key, auth key) giving sa_message's algorithm arguments."""
        cipher = KERNEL_CIPHERS.get(keys.cipher)
        if cipher is None:
            raise ValueError(f"xfrm: cipher {keys.cipher!r} is not supported")
        if CIPHERS[keys.cipher].aead:
            icv_bits = 8 * (keys.icv_bytes or CIPHERS[keys.cipher].icv)
            return lambda enc, auth: {"crypt": None, "aead": (cipher, enc, icv_bits)}
        hmac = KERNEL_HMACS.get(keys.integrity or "")
        if hmac is None:
            raise ValueError(f"xfrm: integrity {keys.integrity!r} is not supported")
        trunc_bits = 8 * (keys.icv_bytes or INTEGRITY[keys.integrity].icv)
        return lambda enc, auth: {"crypt": (cipher, enc), "auth": (hmac, auth, trunc_bits)}

    @staticmethod
    def _lifetimes(keys: ChildSaKeys) -> dict:
        seconds, size = keys.lifetime_seconds, keys.lifetime_kilobytes * 1024
        return lifetime(soft_seconds=int(seconds * SOFT_FRACTION), hard_seconds=seconds,
                        soft_bytes=int(size * SOFT_FRACTION), hard_bytes=size)

    def _delete_sa(self, dst: str, spi: int) -> None:
        try:
            self._xfrm.request(sa_id_message(dst=dst, spi=spi), XfrmMsg.DELSA)
        except OSError as error:
            if error.errno != errno.ESRCH:  # already gone (hard expiry)
                self._log.warning("xfrm: DELSA %08x to %s: %s", spi, dst, error)

    def _readable(self, sock: socket.socket) -> None:
        """Drain one L2TP socket; the SO_MARK control message names the SA the datagram came through."""
        for _ in range(256):
            try:
                data, ancillary, _flags, address = sock.recvmsg(65535, socket.CMSG_SPACE(4))
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:
                self._log.debug("xfrm: L2TP receive: %s", error)
                return
            self.deliver(data, ancillary, address)

    def deliver(self, data: bytes, ancillary: list, address: Address) -> None:
        """Hand one received L2TP datagram to ``on_l2tp`` tagged with its SA, or drop it."""
        mark = next((_MARK.unpack(value[:4])[0] for level, kind, value in ancillary
                     if level == socket.SOL_SOCKET and kind == socket.SO_MARK and len(value) >= 4), None)
        pair = self._by_mark.get(mark) if mark is not None else None
        if pair is None:
            self.drops[DropReason.NO_SA] += 1
            self._log.debug("xfrm: L2TP from %s without one of our SA marks (%s) dropped", address, mark)
            return
        if self.on_l2tp is None:
            pair.drops[DropReason.NO_SENDER] += 1
            return
        try:
            self.on_l2tp(pair.handle, data, address[1])
        except Exception:
            self._log.exception("xfrm: L2TP receiver failed on a datagram from %s", pair.handle)

    def _collect_expiry(self) -> None:
        for msg in self._notify.notifications():
            reqid, spi, hard = msg["reqid"], msg["id_spi"], bool(msg["hard"])
            pair = self._by_mark.get(reqid)
            if pair is None:
                continue
            limit = "bytes" if msg["cur_bytes"] >= msg["lft_soft_byte_limit"] else "seconds"
            self._log.log(logging.WARNING if hard else logging.INFO,
                          "xfrm: %s (SPI %08x) reached its %s %s lifetime%s", pair.handle, spi,
                          "hard" if hard else "soft", limit,
                          ", deleting it" if hard else " (the peer rekeys)")
            self._events.append(SaExpired(pair.handle, hard, limit))
            if hard:
                self.delete(pair.handle)
