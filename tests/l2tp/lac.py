"""A small L2TP Access Concentrator written from RFC 2661 for testing the LNS in memory.

It keeps its own Ns/Nr (§5.8), builds messages with the codecs' AVP encoder (the codecs have
their own round-trip tests) and answers tunnel authentication (§5.1.1) with its own MD5.
"""

from __future__ import annotations

import hashlib
import logging
import random as random_module
from dataclasses import dataclass, field
from typing import Any

from ikel2tp.l2tp.constants import AvpType, MessageType
from ikel2tp.l2tp.events import SessionKey
from ikel2tp.l2tp.lns import Lns
from ikel2tp.l2tp.message import Message, build_avps, decode_message
from ikel2tp.l2tp.packet import Header, decode_control_body, decode_datagram, encode_control, encode_datagram
from ikel2tp.l2tp.settings import L2tpSettings

PEER = ("192.0.2.10", 1701)


def seeded(seed: int = 1):
    return random_module.Random(seed).randbytes


@dataclass
class Received:
    header: Header
    message: Message | None  # None for a ZLB or a data message
    payload: bytes = b""


@dataclass
class Lac:
    tunnel_id: int = 100
    secret: bytes | None = None
    window: int = 4
    host_name: str = "lac.example"
    ns: int = 0
    nr: int = 0
    lns_tunnel_id: int = 0
    challenge: bytes | None = None
    log: list[Received] = field(default_factory=list)

    # -- building --------------------------------------------------------------------------------
    def control(self, kind: MessageType, items: list[tuple[AvpType, Any]], session_id: int = 0,
                hide: frozenset[AvpType] = frozenset(), tunnel_id: int | None = None) -> bytes:
        avps = build_avps(kind, items, hide=hide, secret=self.secret, random=seeded(7))
        return self.raw(avps, session_id, tunnel_id)

    def raw(self, avps, session_id: int = 0, tunnel_id: int | None = None) -> bytes:
        tid = self.lns_tunnel_id if tunnel_id is None else tunnel_id
        data = encode_control(tid, session_id, self.ns, self.nr, avps)
        self.ns = (self.ns + 1) % 65536
        return data

    def zlb(self) -> bytes:
        return encode_control(self.lns_tunnel_id, 0, self.ns, self.nr, [])

    def sccrq(self, challenge: bytes | None = None, extra: list[tuple[AvpType, Any]] = ()) -> bytes:
        items = [(AvpType.PROTOCOL_VERSION, (1, 0)), (AvpType.HOST_NAME, self.host_name),
                 (AvpType.FRAMING_CAPABILITIES, 3), (AvpType.ASSIGNED_TUNNEL_ID, self.tunnel_id),
                 (AvpType.RECEIVE_WINDOW_SIZE, self.window), *extra]
        self.challenge = challenge
        if challenge is not None:
            items.append((AvpType.CHALLENGE, challenge))
        return self.control(MessageType.SCCRQ, items, tunnel_id=0)

    def scccn(self, sccrp: Message, secret: bytes | None = None) -> bytes:
        items = []
        theirs = sccrp.get(AvpType.CHALLENGE)
        if theirs is not None:
            key = self.secret if secret is None else secret
            items.append((AvpType.CHALLENGE_RESPONSE, md5_response(3, key, theirs)))
        return self.control(MessageType.SCCCN, items)

    def icrq(self, session_id: int, serial: int = 1, hide: frozenset[AvpType] = frozenset()) -> bytes:
        return self.control(MessageType.ICRQ, [(AvpType.ASSIGNED_SESSION_ID, session_id),
                                               (AvpType.CALL_SERIAL_NUMBER, serial),
                                               (AvpType.CALLING_NUMBER, "192.0.2.10")], hide=hide)

    def iccn(self, lns_session_id: int, sequencing: bool = False) -> bytes:
        items = [(AvpType.TX_CONNECT_SPEED, 100000000), (AvpType.FRAMING_TYPE, 1)]
        if sequencing:
            items.append((AvpType.SEQUENCING_REQUIRED, True))
        return self.control(MessageType.ICCN, items, session_id=lns_session_id)

    def data(self, lns_session_id: int, payload: bytes, ns: int | None = None) -> bytes:
        nr = None if ns is None else 0
        return encode_datagram(Header(False, self.lns_tunnel_id, lns_session_id, ns, nr), payload)

    # -- receiving -------------------------------------------------------------------------------
    def receive(self, data: bytes) -> Received:
        header, payload = decode_datagram(data)
        if not header.control:
            got = Received(header, None, payload)
        else:
            avps = decode_control_body(payload)
            message = decode_message(avps, self.secret) if avps else None
            if message is not None and header.ns == self.nr:
                self.nr = (self.nr + 1) % 65536
            got = Received(header, message)
        self.log.append(got)
        return got


def md5_response(message_type: int, secret: bytes, challenge: bytes) -> bytes:
    """RFC 2661 §4.4.3: MD5 over the one-octet message type, the secret and the challenge."""
    return hashlib.md5(bytes([message_type]) + secret + challenge).digest()


def make_lns(**overrides: Any) -> Lns:
    return Lns(L2tpSettings(**overrides), log=logging.getLogger("test.l2tp"), random=seeded(3))


def exchange(lns: Lns, lac: Lac, data: bytes, now: float, peer=PEER) -> list[Received]:
    """Feed one datagram to the LNS and let the LAC read everything the LNS sends to ``peer``."""
    lns.receive_datagram(data, peer, now)
    return [lac.receive(out) for out, to in lns.datagrams_to_send() if to == peer]


def messages(received: list[Received]) -> list[str]:
    return [r.message.name if r.message else ("ZLB" if r.header.control else "data") for r in received]


def events(lns: Lns) -> list:
    out = []
    while (event := lns.next_event()) is not None:
        out.append(event)
    return out


def establish(lns: Lns, lac: Lac, now: float = 0.0, peer=PEER) -> int:
    """SCCRQ -> SCCRP -> SCCCN; returns the LNS's tunnel ID."""
    (sccrp,) = exchange(lns, lac, lac.sccrq(), now, peer)
    lac.lns_tunnel_id = sccrp.message.get(AvpType.ASSIGNED_TUNNEL_ID)
    exchange(lns, lac, lac.scccn(sccrp.message), now, peer)
    return lac.lns_tunnel_id


def open_session(lns: Lns, lac: Lac, lac_session: int = 7, now: float = 0.0, sequencing: bool = False,
                 peer=PEER) -> SessionKey:
    """ICRQ -> ICRP -> ICCN; returns the session key."""
    (icrp,) = exchange(lns, lac, lac.icrq(lac_session), now, peer)
    ours = icrp.message.get(AvpType.ASSIGNED_SESSION_ID)
    exchange(lns, lac, lac.iccn(ours, sequencing), now, peer)
    return SessionKey(lac.lns_tunnel_id, ours)
