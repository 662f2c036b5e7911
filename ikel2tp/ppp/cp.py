"""The part every PPP control protocol shares (RFC 1661 §5): packet dispatch by code, Configure
Request/Ack/Nak/Reject bookkeeping, Terminate and Code-Reject, on top of :class:`Automaton`.

A concrete protocol (LCP, IPCP, IPv6CP) supplies the option policy as data: which options it
requests (:meth:`build_request`), how it judges each of the peer's options (a table of rules) and
how it adjusts to the peer's Nak and Reject.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

from ikel2tp.common.errors import DecodeError
from ikel2tp.ppp.constants import Code
from ikel2tp.ppp.fsm import Automaton, Event, State
from ikel2tp.ppp.packet import (
    ControlPacket,
    Option,
    PppError,
    pull_control_packet,
    pull_options,
    push_control_packet,
    push_options,
)


class Verdict(IntEnum):
    """How we answer one option of the peer's Configure-Request (RFC 1661 §5.1-5.4)."""

    ACK = Code.CONFIGURE_ACK
    NAK = Code.CONFIGURE_NAK
    REJECT = Code.CONFIGURE_REJECT


@dataclass(frozen=True)
class OptionRule:
    """How one peer option is judged: its data length (None: variable) and a function returning
    None to accept it or the option to put in our Configure-Nak."""

    name: str
    length: int | None
    judge: Callable[[Option], Option | None]


class LayerOwner(Protocol):
    """The PPP link a control protocol reports to."""

    def send_frame(self, protocol: int, information: bytes) -> None: ...
    def layer_up(self, layer: ControlProtocol, now: float) -> None: ...
    def layer_down(self, layer: ControlProtocol, now: float) -> None: ...
    def layer_finished(self, layer: ControlProtocol, now: float) -> None: ...
    def layer_failed(self, layer: ControlProtocol, reason: str) -> None: ...
    def protocol_rejected(self, protocol: int, now: float) -> None: ...


@dataclass(frozen=True)
class Timing:
    """RFC 1661 §4.6 counters and timer, plus how many Naks/Rejects of our request we tolerate."""

    restart_interval: float = 3.0
    max_configure: int = 10
    max_terminate: int = 2
    max_failure: int = 5


# Codes 1-7 are essential to every control protocol: a Code-Reject of one is catastrophic (RXJ-).
_ESSENTIAL_CODES = frozenset(range(Code.CONFIGURE_REQUEST, Code.CODE_REJECT + 1))
# States in which RCR+ sends our Configure-Ack (RFC 1661 §4.1 table: sca).
_ACKING_STATES = frozenset({State.STOPPED, State.REQ_SENT, State.ACK_RCVD, State.ACK_SENT, State.OPENED})


class ControlProtocol:
    """Shared behaviour of LCP and the NCPs (RFC 1661 §5.1-5.7)."""

    protocol: int = 0
    name: str = "cp"

    def __init__(self, owner: LayerOwner, *, timing: Timing, log: logging.Logger, first_id: int = 0) -> None:
        self.owner = owner
        self.timing = timing
        self.log = log
        self.fsm = Automaton(
            self,
            name=self.name,
            log=log,
            restart_interval=timing.restart_interval,
            max_configure=timing.max_configure,
            max_terminate=timing.max_terminate,
        )
        self._next_id = first_id & 0xFF
        self._request: ControlPacket | None = None
        self._reply: ControlPacket | None = None
        self._last_received: ControlPacket | None = None
        self._naks_received = 0  # Naks/Rejects of our request since it was last acknowledged
        self._naks_sent = 0  # consecutive Naks we sent (RFC 1661 §4.6 Max-Failure)
        self._handlers: dict[int, Callable[[ControlPacket, float], None]] = {
            Code.CONFIGURE_REQUEST: self._receive_configure_request,
            Code.CONFIGURE_ACK: self._receive_configure_ack,
            Code.CONFIGURE_NAK: self._receive_configure_nak,
            Code.CONFIGURE_REJECT: self._receive_configure_nak,
            Code.TERMINATE_REQUEST: self._receive_terminate_request,
            Code.TERMINATE_ACK: self._receive_terminate_ack,
            Code.CODE_REJECT: self._receive_code_reject,
        }

    # -- policy supplied by each protocol ------------------------------------------------------
    def build_request(self) -> list[Option]:
        raise NotImplementedError

    def option_rules(self) -> dict[int, OptionRule]:
        raise NotImplementedError

    def request_acked(self, options: list[Option]) -> None:
        """Our request was acknowledged: these values are in force."""

    def request_naked(self, options: list[Option]) -> None:
        """Adjust the next request to the peer's Configure-Nak (RFC 1661 §5.3)."""

    def request_rejected(self, options: list[Option]) -> None:
        """Drop the rejected options from the next request (RFC 1661 §5.4)."""

    def peer_options_acked(self, options: list[Option]) -> None:
        """We acknowledged the peer's request: its values are in force."""

    # -- input ---------------------------------------------------------------------------------
    @property
    def state(self) -> State:
        return self.fsm.state

    @property
    def is_open(self) -> bool:
        return self.fsm.state is State.OPENED

    def receive(self, information: bytes, now: float) -> None:
        """Handle one packet of this protocol; a malformed one raises :class:`PppError`."""
        try:
            packet = pull_control_packet(information)
        except DecodeError as exc:
            raise PppError(f"{self.name}: {exc.reason}", field=exc.field) from exc
        self._last_received = packet
        handler = self._handlers.get(packet.code)
        if handler is None:
            self.fsm.handle(Event.RUC, now)
            return
        handler(packet, now)

    def _options(self, packet: ControlPacket) -> list[Option]:
        try:
            return pull_options(packet.data)
        except DecodeError as exc:
            raise PppError(f"{self.name} {Code(packet.code).name}: {exc.reason}", field=exc.field) from exc

    def _receive_configure_request(self, packet: ControlPacket, now: float) -> None:
        options = self._options(packet)
        verdict, answer = self.judge(options)
        if verdict is Verdict.NAK:
            self._naks_sent += 1
            if self._naks_sent > self.timing.max_failure:
                # RFC 1661 §4.6 Max-Failure: stop Nak'ing; Reject the peer's options we kept Nak'ing
                # (a Reject carries them verbatim, §5.4) so negotiation converges.
                naked = {option.type for option in answer}
                answer = [option for option in options if option.type in naked]
                verdict = Verdict.REJECT if answer else Verdict.ACK
        else:
            self._naks_sent = 0
        reply_options = options if verdict is Verdict.ACK else answer
        self._reply = ControlPacket(verdict, packet.identifier, push_options(reply_options))
        if verdict is Verdict.ACK and self.fsm.state in _ACKING_STATES:
            self.peer_options_acked(options)
        self.fsm.handle(Event.RCR_PLUS if verdict is Verdict.ACK else Event.RCR_MINUS, now)

    def judge(self, options: list[Option]) -> tuple[Verdict, list[Option]]:
        """Judge the peer's options by the rule table: Reject beats Nak beats Ack (RFC 1661 §5.2-5.4)."""
        rules = self.option_rules()
        rejects: list[Option] = []
        naks: list[Option] = []
        for option in options:
            rule = rules.get(option.type)
            if rule is None or (rule.length is not None and len(option.data) != rule.length):
                rejects.append(option)
                continue
            suggestion = rule.judge(option)
            if suggestion is not None:
                naks.append(suggestion)
        if rejects:
            self.log.info("%s: rejecting peer options %s", self.name, [o.type for o in rejects])
            return Verdict.REJECT, rejects
        if naks:
            return Verdict.NAK, naks
        return Verdict.ACK, options

    def _matches_request(self, packet: ControlPacket) -> bool:
        if self._request is None or packet.identifier != self._request.identifier:
            self.log.debug("%s: %s id %d does not answer our request, dropped", self.name,
                           Code(packet.code).name, packet.identifier)
            return False
        return True

    def _receive_configure_ack(self, packet: ControlPacket, now: float) -> None:
        if not self._matches_request(packet):
            return
        assert self._request is not None
        if packet.data != self._request.data:
            raise PppError(f"{self.name}: Configure-Ack does not echo our request", field="configure_ack")
        if self.fsm.state in (State.REQ_SENT, State.ACK_SENT):
            self.request_acked(self._options(packet))
            self._naks_received = 0
        self.fsm.handle(Event.RCA, now)

    def _receive_configure_nak(self, packet: ControlPacket, now: float) -> None:
        if not self._matches_request(packet):
            return
        options = self._options(packet)
        if self.fsm.state in (State.REQ_SENT, State.ACK_RCVD, State.ACK_SENT, State.OPENED):
            if packet.code == Code.CONFIGURE_REJECT:
                assert self._request is not None
                requested = {o.type for o in pull_options(self._request.data)}
                if any(o.type not in requested for o in options):
                    raise PppError(f"{self.name}: Configure-Reject names options we did not request",
                                   field="configure_reject")
                self.request_rejected(options)
            else:
                self.request_naked(options)
            self._naks_received += 1
            if self._naks_received > self.timing.max_failure:
                self.owner.layer_failed(
                    self, f"{self.name}: peer refused our request {self._naks_received} times, giving up"
                )
                return
        self.fsm.handle(Event.RCN, now)

    def _receive_terminate_request(self, packet: ControlPacket, now: float) -> None:
        self.fsm.handle(Event.RTR, now)

    def _receive_terminate_ack(self, packet: ControlPacket, now: float) -> None:
        self.fsm.handle(Event.RTA, now)

    def _receive_code_reject(self, packet: ControlPacket, now: float) -> None:
        rejected = packet.data[0] if packet.data else 0
        self.log.info("%s: peer Code-Rejected code %d", self.name, rejected)
        self.fsm.handle(Event.RXJ_MINUS if rejected in _ESSENTIAL_CODES else Event.RXJ_PLUS, now)

    # -- AutomatonActions ----------------------------------------------------------------------
    def _allocate_id(self) -> int:
        self._next_id = (self._next_id + 1) & 0xFF
        return self._next_id

    def _send(self, packet: ControlPacket) -> None:
        self.owner.send_frame(self.protocol, push_control_packet(packet))

    def send_configure_request(self) -> None:
        self._request = ControlPacket(Code.CONFIGURE_REQUEST, self._allocate_id(),
                                      push_options(self.build_request()))
        self._send(self._request)

    def send_configure_ack(self) -> None:
        assert self._reply is not None and self._reply.code == Code.CONFIGURE_ACK
        self._send(self._reply)

    def send_configure_nak(self) -> None:
        assert self._reply is not None
        self._send(self._reply)

    def send_terminate_request(self) -> None:
        self._send(ControlPacket(Code.TERMINATE_REQUEST, self._allocate_id(), b""))

    def send_terminate_ack(self) -> None:
        # Answers the packet that caused it (a Terminate-Request, or anything received while closed).
        identifier = self._last_received.identifier if self._last_received else self._allocate_id()
        self._send(ControlPacket(Code.TERMINATE_ACK, identifier, b""))

    def send_code_reject(self) -> None:
        assert self._last_received is not None
        rejected = push_control_packet(self._last_received)
        self._send(ControlPacket(Code.CODE_REJECT, self._allocate_id(), rejected[: self.max_reject_bytes()]))

    def send_echo_reply(self) -> None:
        raise PppError(f"{self.name} has no Echo-Reply")

    def max_reject_bytes(self) -> int:
        """Code-/Protocol-Reject copies at most this much of the rejected packet (RFC 1661 §5.7)."""
        return 1400 - 8

    def this_layer_up(self, now: float) -> None:
        self.owner.layer_up(self, now)

    def this_layer_down(self, now: float) -> None:
        self.owner.layer_down(self, now)

    def this_layer_started(self, now: float) -> None:
        """Nothing to do: the lower layer (L2TP session) is already up when a link exists."""

    def this_layer_finished(self, now: float) -> None:
        self.owner.layer_finished(self, now)

    # -- administrative events -----------------------------------------------------------------
    def open(self, now: float) -> None:
        self.fsm.handle(Event.OPEN, now)

    def up(self, now: float) -> None:
        self.fsm.handle(Event.UP, now)

    def down(self, now: float) -> None:
        self.fsm.handle(Event.DOWN, now)

    def close(self, now: float) -> None:
        self.fsm.handle(Event.CLOSE, now)

    def protocol_rejected(self, now: float) -> None:
        """LCP received a Protocol-Reject naming this protocol (RFC 1661 §5.7: RXJ-)."""
        self.fsm.handle(Event.RXJ_MINUS, now)
