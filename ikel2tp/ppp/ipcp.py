"""IPCP (RFC 1332) with the name-server options of RFC 1877.

Server role: our request carries the gateway address; the peer's IP-Address is Nak'd to the
address the pool assigned (Windows asks for 0.0.0.0), DNS (129/131) and WINS/NBNS (130/132) are
Nak'd to the configured servers or Rejected when none are configured, and IP-Compression (Van
Jacobson) is Rejected.  Client role: we ask for 0.0.0.0 and two DNS servers and take what the
server Naks back.
"""

from __future__ import annotations

import logging
from ipaddress import IPv4Address

from ikel2tp.ppp.constants import IpcpOption, Protocol
from ikel2tp.ppp.cp import ControlProtocol, LayerOwner, OptionRule, Timing, Verdict
from ikel2tp.ppp.packet import Option
from ikel2tp.ppp.settings import Role

_ZERO = IPv4Address(0)
_NAME_SERVER_OPTIONS = (IpcpOption.PRIMARY_DNS, IpcpOption.SECONDARY_DNS)
_NBNS_OPTIONS = (IpcpOption.PRIMARY_NBNS, IpcpOption.SECONDARY_NBNS)


def _address(option: Option) -> IPv4Address:
    return IPv4Address(option.data)


class Ipcp(ControlProtocol):
    protocol = Protocol.IPCP
    name = "IPCP"

    def __init__(self, owner: LayerOwner, *, role: Role, timing: Timing, log: logging.Logger,
                 first_id: int) -> None:
        super().__init__(owner, timing=timing, log=log, first_id=first_id)
        self.role = role
        self.local_address: IPv4Address = _ZERO
        self.peer_address: IPv4Address = _ZERO
        # Server: the values we hand out per option; client: the values we ask for.
        self.offered: dict[int, IPv4Address] = {}
        self._prompted = False
        self._requesting: list[int] = (
            [IpcpOption.IP_ADDRESS] if role is Role.SERVER else [IpcpOption.IP_ADDRESS, *_NAME_SERVER_OPTIONS]
        )

    def set_addresses(self, local: IPv4Address, peer: IPv4Address, dns: list[IPv4Address],
                      wins: list[IPv4Address]) -> None:
        """Server role: what we hand out (RFC 1877: at most a primary and a secondary of each)."""
        self.local_address = local
        self.peer_address = peer
        self.offered = {IpcpOption.IP_ADDRESS: peer}
        self.offered.update(zip(_NAME_SERVER_OPTIONS, dns, strict=False))
        self.offered.update(zip(_NBNS_OPTIONS, wins, strict=False))

    @property
    def dns(self) -> tuple[IPv4Address, ...]:
        """The primary and secondary name servers of the link (handed out, or received as client)."""
        return tuple(self.offered[o] for o in _NAME_SERVER_OPTIONS if o in self.offered)

    def build_request(self) -> list[Option]:
        if self.role is Role.SERVER:
            values = {IpcpOption.IP_ADDRESS: self.local_address}
        else:
            values = {IpcpOption.IP_ADDRESS: self.local_address,
                      **{o: self.offered.get(o, _ZERO) for o in _NAME_SERVER_OPTIONS}}
        return [Option(kind, values[kind].packed) for kind in self._requesting]

    def request_naked(self, options: list[Option]) -> None:
        for option in options:
            if option.type not in self._requesting or len(option.data) != 4:
                continue
            if self.role is Role.SERVER:
                # Our gateway address is not negotiable; the Nak loop is bounded by Max-Failure.
                self.log.info("IPCP: peer Nak'd our address %s with %s", self.local_address, _address(option))
            elif option.type == IpcpOption.IP_ADDRESS:
                self.local_address = _address(option)
            else:
                self.offered[option.type] = _address(option)

    def request_rejected(self, options: list[Option]) -> None:
        for option in options:
            if option.type in self._requesting:
                self._requesting.remove(option.type)

    def option_rules(self) -> dict[int, OptionRule]:
        if self.role is Role.CLIENT:
            return {IpcpOption.IP_ADDRESS: OptionRule("IP-Address", 4, _accept)}
        return {kind: OptionRule(IpcpOption(kind).name, 4, self._judge_offered) for kind in self.offered}

    def judge(self, options: list[Option]) -> tuple[Verdict, list[Option]]:
        """Server role: a peer that does not ask for an address is prompted once with a Nak carrying
        the assigned one (RFC 1661 §5.3 lets a Nak add options); if it still does not ask, it is
        Acked and the anti-spoofing filter keeps it to the address it was offered."""
        verdict, answer = super().judge(options)
        if self.role is Role.CLIENT or verdict is Verdict.REJECT or self._prompted:
            return verdict, answer
        if any(o.type == IpcpOption.IP_ADDRESS for o in options):
            return verdict, answer
        self._prompted = True
        self.log.info("IPCP: peer did not ask for an address; suggesting %s", self.peer_address)
        prompt = Option(IpcpOption.IP_ADDRESS, self.peer_address.packed)
        return Verdict.NAK, (answer if verdict is Verdict.NAK else []) + [prompt]

    def _judge_offered(self, option: Option) -> Option | None:
        wanted = self.offered[option.type]
        return None if _address(option) == wanted else Option(option.type, wanted.packed)

    def peer_options_acked(self, options: list[Option]) -> None:
        if self.role is Role.CLIENT:
            for option in options:
                if option.type == IpcpOption.IP_ADDRESS:
                    self.peer_address = _address(option)


def _accept(option: Option) -> Option | None:
    """Client role: the server's own address is whatever it says it is."""
    return None
