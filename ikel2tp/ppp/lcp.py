"""LCP (RFC 1661 §5-6): link options, authentication protocol choice, keepalive, Protocol-Reject.

Server role: we request MRU, Auth-Protocol (the ``[ppp] auth`` order) and a Magic-Number; we
acknowledge the peer's MRU, ACCM, Magic-Number, PFC and ACFC promptly (iOS waits for its options to
be acknowledged before it answers a challenge, SoftEtherVPN/SoftEtherVPN#1102) and Reject anything
we do not implement (Callback, MRRU, Endpoint Discriminator, Quality-Protocol, ...) so Windows,
macOS/iOS and Android carry on without them.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable

from ikel2tp.ppp.auth.chap import ChapAlgorithm
from ikel2tp.ppp.auth.credentials import AuthMethod
from ikel2tp.ppp.constants import Code, LcpOption, Protocol
from ikel2tp.ppp.cp import ControlProtocol, LayerOwner, OptionRule, Timing
from ikel2tp.ppp.fsm import Event, State
from ikel2tp.ppp.packet import ControlPacket, Option, PppError
from ikel2tp.ppp.settings import PppSettings, Role

# RFC 1661 §6.2 Authentication-Protocol option data per method (RFC 1334, RFC 1994, RFC 2759 §2).
AUTH_OPTION_DATA: dict[AuthMethod, bytes] = {
    AuthMethod.MSCHAPV2: struct.pack("!HB", Protocol.CHAP, ChapAlgorithm.MSCHAPV2),
    AuthMethod.CHAP: struct.pack("!HB", Protocol.CHAP, ChapAlgorithm.MD5),
    AuthMethod.PAP: struct.pack("!H", Protocol.PAP),
}
_AUTH_BY_DATA = {data: method for method, data in AUTH_OPTION_DATA.items()}
_CHAP_ALGORITHM_NAMES = {5: "CHAP-MD5", 0x80: "MS-CHAP (v1)", 0x81: "MS-CHAPv2"}

MIN_MRU = 128  # smallest MRU we agree to send with (pppd's PPP_MINMRU)
DEFAULT_MRU = 1500  # RFC 1661 §6.1


def describe_auth(data: bytes) -> str:
    """Plain-words name of an Authentication-Protocol option value, for log lines."""
    if len(data) < 2:
        return f"malformed ({data.hex()})"
    protocol = int.from_bytes(data[:2], "big")
    if protocol == Protocol.CHAP and len(data) >= 3:
        return _CHAP_ALGORITHM_NAMES.get(data[2], f"CHAP algorithm {data[2]:#04x}")
    names = {Protocol.PAP: "PAP", Protocol.EAP: "EAP", Protocol.CHAP: "CHAP"}
    return names.get(protocol, f"protocol {protocol:#06x}")


def _u16(option: Option) -> int:
    return int.from_bytes(option.data, "big")


class Lcp(ControlProtocol):
    protocol = Protocol.LCP
    name = "LCP"

    def __init__(
        self,
        owner: LayerOwner,
        *,
        settings: PppSettings,
        role: Role,
        random: Callable[[int], bytes],
        timing: Timing,
        log: logging.Logger,
    ) -> None:
        super().__init__(owner, timing=timing, log=log, first_id=random(1)[0])
        self.settings = settings
        self.role = role
        self._random = random
        self.magic = self._new_magic()
        self._want_mru: int | None = settings.mru
        self._want_magic = True
        # Server: the methods we still may propose, in order; the head is in our request.
        self._auth_candidates = list(settings.auth) if role is Role.SERVER else []
        self._auth_tried: list[AuthMethod] = []
        self.peer_offered: list[str] = []
        self.auth: AuthMethod | None = None  # in force once LCP is Opened
        self.peer_mru = DEFAULT_MRU
        self._loopbacks = 0
        self._handlers.update({
            Code.PROTOCOL_REJECT: self._receive_protocol_reject,
            Code.ECHO_REQUEST: self._receive_echo,
            Code.ECHO_REPLY: self._receive_echo_reply,
            Code.DISCARD_REQUEST: self._receive_discard,
        })

    def _new_magic(self) -> int:
        while True:
            magic = int.from_bytes(self._random(4), "big")
            if magic:
                return magic

    # -- our request ---------------------------------------------------------------------------
    def build_request(self) -> list[Option]:
        options = []
        if self._want_mru is not None:
            options.append(Option(LcpOption.MRU, self._want_mru.to_bytes(2, "big")))
        if self._auth_candidates:
            options.append(Option(LcpOption.AUTH_PROTOCOL, AUTH_OPTION_DATA[self._auth_candidates[0]]))
        if self._want_magic:
            options.append(Option(LcpOption.MAGIC_NUMBER, self.magic.to_bytes(4, "big")))
        return options

    def request_acked(self, options: list[Option]) -> None:
        if self.role is Role.SERVER:
            self.auth = self._auth_candidates[0] if self._auth_candidates else None

    def request_naked(self, options: list[Option]) -> None:
        for option in options:
            if option.type == LcpOption.MRU and len(option.data) == 2:
                if MIN_MRU <= _u16(option) <= DEFAULT_MRU:
                    self._want_mru = _u16(option)
            elif option.type == LcpOption.AUTH_PROTOCOL and self._auth_candidates:
                self._auth_naked(option.data)
            elif option.type == LcpOption.MAGIC_NUMBER:
                self.magic = self._new_magic()  # RFC 1661 §6.4: a Nak'd magic means pick another

    def _auth_naked(self, suggested: bytes) -> None:
        """RFC 1661 §6.2: the peer names the method it would rather use; take it if we allow it,
        else move to our next method.  Refusing them all ends the link (Windows shows 628/691)."""
        offered = describe_auth(suggested)
        self.peer_offered.append(offered)
        self._auth_tried.append(self._auth_candidates.pop(0))
        preferred = _AUTH_BY_DATA.get(suggested)
        if preferred in self._auth_candidates:
            self._auth_candidates.remove(preferred)
            self._auth_candidates.insert(0, preferred)
        self.log.info("LCP: peer refused %s and offered %s; next: %s", self._auth_tried[-1].value, offered,
                      self._auth_candidates[0].value if self._auth_candidates else "none left")
        if not self._auth_candidates:
            self.owner.layer_failed(self, self.auth_refused_reason())

    def auth_refused_reason(self) -> str:
        offered = ", ".join(dict.fromkeys(self.peer_offered)) or "nothing (it rejected authentication)"
        required = ", ".join(method.value for method in self.settings.auth)
        return (f"client refuses every authentication method we allow: it offered {offered}; "
                f"we require one of {required} (enable it in the client's VPN settings)")

    def request_rejected(self, options: list[Option]) -> None:
        for option in options:
            if option.type == LcpOption.MRU:
                self._want_mru = None
            elif option.type == LcpOption.MAGIC_NUMBER:
                self._want_magic = False
            elif option.type == LcpOption.AUTH_PROTOCOL and self._auth_candidates:
                self._auth_candidates.clear()
                self.owner.layer_failed(self, self.auth_refused_reason())

    # -- the peer's request --------------------------------------------------------------------
    def option_rules(self) -> dict[int, OptionRule]:
        rules = {
            LcpOption.MRU: OptionRule("MRU", 2, self._judge_mru),
            LcpOption.ACCM: OptionRule("ACCM", 4, _accept),
            LcpOption.MAGIC_NUMBER: OptionRule("Magic-Number", 4, self._judge_magic),
            LcpOption.PFC: OptionRule("PFC", 0, _accept),
            LcpOption.ACFC: OptionRule("ACFC", 0, _accept),
        }
        if self.role is Role.CLIENT:
            rules[LcpOption.AUTH_PROTOCOL] = OptionRule("Auth-Protocol", None, self._judge_auth)
        return rules

    def _judge_mru(self, option: Option) -> Option | None:
        if _u16(option) < MIN_MRU:
            return Option(LcpOption.MRU, self.settings.mru.to_bytes(2, "big"))
        return None

    def _judge_magic(self, option: Option) -> Option | None:
        value = int.from_bytes(option.data, "big")
        if value == 0 or value == self.magic:
            # RFC 1661 §6.4: our own magic back means a looped-back link (or a collision).
            if value:
                self._loopbacks += 1
                self.log.info("LCP: peer's Magic-Number equals ours (looped back?)")
                if self._loopbacks > self.timing.max_failure:
                    self.owner.layer_failed(self, "link is looped back (peer echoes our Magic-Number)")
                self.magic = self._new_magic()
            return Option(LcpOption.MAGIC_NUMBER, self._new_magic().to_bytes(4, "big"))
        return None

    def _judge_auth(self, option: Option) -> Option | None:
        method = _AUTH_BY_DATA.get(option.data)
        if method in self.settings.auth:
            return None
        self.peer_offered.append(describe_auth(option.data))
        return Option(LcpOption.AUTH_PROTOCOL, AUTH_OPTION_DATA[self.settings.auth[0]])

    def peer_options_acked(self, options: list[Option]) -> None:
        self.peer_mru = DEFAULT_MRU
        for option in options:
            if option.type == LcpOption.MRU:
                self.peer_mru = _u16(option)
            elif option.type == LcpOption.AUTH_PROTOCOL:
                self.auth = _AUTH_BY_DATA[option.data]

    def max_reject_bytes(self) -> int:
        return max(self.peer_mru - 8, 0)

    # -- LCP-only codes (RFC 1661 §5.7-5.9) ------------------------------------------------------
    def _receive_protocol_reject(self, packet: ControlPacket, now: float) -> None:
        if self.fsm.state is not State.OPENED:
            return
        if len(packet.data) < 2:
            raise PppError("Protocol-Reject without a protocol", field="lcp.rejected_protocol")
        self.owner.protocol_rejected(int.from_bytes(packet.data[:2], "big"), now)

    def _receive_echo(self, packet: ControlPacket, now: float) -> None:
        self._check_echo_magic(packet)
        self.fsm.handle(Event.RXR, now)

    def _receive_echo_reply(self, packet: ControlPacket, now: float) -> None:
        self._check_echo_magic(packet)
        self.fsm.handle(Event.RXR, now)

    def _receive_discard(self, packet: ControlPacket, now: float) -> None:
        self.fsm.handle(Event.RXR, now)

    def _check_echo_magic(self, packet: ControlPacket) -> None:
        if len(packet.data) < 4:
            raise PppError("Echo without a Magic-Number", field="lcp.echo_magic")
        if self._want_magic and int.from_bytes(packet.data[:4], "big") == self.magic:
            raise PppError("Echo carries our own Magic-Number (looped back?)", field="lcp.echo_magic")

    def send_echo_reply(self) -> None:
        received = self._last_received
        if received is None or received.code != Code.ECHO_REQUEST:
            return  # RXR from an Echo-Reply or Discard-Request: nothing to send
        self._send(ControlPacket(Code.ECHO_REPLY, received.identifier,
                                 self._my_magic() + received.data[4:][: self.max_reject_bytes()]))

    def send_echo_request(self) -> None:
        self._send(ControlPacket(Code.ECHO_REQUEST, self._allocate_id(), self._my_magic()))

    def send_protocol_reject(self, protocol: int, information: bytes) -> None:
        data = protocol.to_bytes(2, "big") + information
        self._send(ControlPacket(Code.PROTOCOL_REJECT, self._allocate_id(), data[: self.max_reject_bytes()]))

    def _my_magic(self) -> bytes:
        # RFC 1661 §5.8: zero when Magic-Number was not negotiated.
        return (self.magic if self._want_magic else 0).to_bytes(4, "big")


def _accept(option: Option) -> Option | None:
    return None
