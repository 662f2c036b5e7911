"""IPv6CP (RFC 5072 §4): negotiate the interface identifiers both ends use for link-local addresses."""

from __future__ import annotations

import logging
from collections.abc import Callable

from ikel2tp.ppp.constants import Ipv6cpOption, Protocol
from ikel2tp.ppp.cp import ControlProtocol, LayerOwner, OptionRule, Timing
from ikel2tp.ppp.packet import Option

_ZERO_ID = bytes(8)


class Ipv6cp(ControlProtocol):
    protocol = Protocol.IPV6CP
    name = "IPv6CP"

    def __init__(self, owner: LayerOwner, *, random: Callable[[int], bytes], timing: Timing,
                 log: logging.Logger) -> None:
        super().__init__(owner, timing=timing, log=log, first_id=random(1)[0])
        self._random = random
        self.local_identifier = self._new_identifier(avoid=_ZERO_ID)
        self.peer_identifier = _ZERO_ID
        self._request_identifier = True

    def _new_identifier(self, avoid: bytes) -> bytes:
        while True:
            identifier = self._random(8)
            if identifier not in (_ZERO_ID, avoid):
                return identifier

    def build_request(self) -> list[Option]:
        if not self._request_identifier:
            return []
        return [Option(Ipv6cpOption.INTERFACE_IDENTIFIER, self.local_identifier)]

    def request_naked(self, options: list[Option]) -> None:
        for option in options:
            if option.type == Ipv6cpOption.INTERFACE_IDENTIFIER and len(option.data) == 8:
                # RFC 5072 §4.1: use the suggested identifier unless it is zero or the peer's own.
                suggested = option.data
                ok = suggested not in (_ZERO_ID, self.peer_identifier)
                self.local_identifier = suggested if ok else self._new_identifier(self.peer_identifier)

    def request_rejected(self, options: list[Option]) -> None:
        if any(o.type == Ipv6cpOption.INTERFACE_IDENTIFIER for o in options):
            self._request_identifier = False

    def option_rules(self) -> dict[int, OptionRule]:
        rule = OptionRule("Interface-Identifier", 8, self._judge_identifier)
        return {Ipv6cpOption.INTERFACE_IDENTIFIER: rule}

    def _judge_identifier(self, option: Option) -> Option | None:
        if option.data in (_ZERO_ID, self.local_identifier):
            # RFC 5072 §4.1: zero or a collision with ours: Nak with an identifier the peer may use.
            return Option(Ipv6cpOption.INTERFACE_IDENTIFIER, self._new_identifier(self.local_identifier))
        return None

    def peer_options_acked(self, options: list[Option]) -> None:
        for option in options:
            if option.type == Ipv6cpOption.INTERFACE_IDENTIFIER:
                self.peer_identifier = option.data
