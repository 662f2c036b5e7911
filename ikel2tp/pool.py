"""The IPv4 address pool for PPP peers (``[pool]``).

Never hands out the network, broadcast or gateway address, nor an excluded one; a user's static
address is reserved for that user alone; an address belongs to at most one live session.  A
released address is held for ``hold_time`` seconds for the same user (a reconnecting client gets
its old address back); a held address is given to someone else only when nothing else is free.
Memory is bounded by the network size (at most a /16).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from ikel2tp.common.errors import ConfigError

MIN_PREFIX = 16  # the largest pool we keep in memory: 65534 addresses


@dataclass(frozen=True)
class _Lease:
    address: IPv4Address
    user: str


@dataclass(frozen=True)
class _Hold:
    user: str
    until: float


class AddressPool:
    def __init__(
        self,
        network: IPv4Network,
        *,
        gateway: IPv4Address,
        exclusions: Iterable[IPv4Address | IPv4Network] = (),
        static: Mapping[str, IPv4Address] | None = None,
        hold_time: float = 300.0,
        log: logging.Logger,
    ) -> None:
        if network.prefixlen < MIN_PREFIX or network.prefixlen > 30:
            raise ConfigError(f"[pool] network {network}: prefix must be /{MIN_PREFIX} to /30")
        self.network = network
        self.gateway = gateway
        self.hold_time = hold_time
        self.log = log
        excluded: set[IPv4Address] = {network.network_address, network.broadcast_address, gateway}
        for item in exclusions:
            excluded.update(item.hosts() if isinstance(item, IPv4Network) else (item,))
            if isinstance(item, IPv4Network):
                excluded.update((item.network_address, item.broadcast_address))
        self._excluded = frozenset(excluded)
        self.static: dict[str, IPv4Address] = dict(static or {})
        self._reserved = self._excluded | self._check_static(self.static)
        # Free dynamic addresses in ascending order (dict as an ordered set).
        self._free: dict[IPv4Address, None] = {a: None for a in network.hosts() if a not in self._reserved}
        self.capacity = len(self._free)
        self._leases: dict[Hashable, _Lease] = {}
        self._in_use: dict[IPv4Address, Hashable] = {}
        self._held: OrderedDict[IPv4Address, _Hold] = OrderedDict()  # oldest release first

    def _check_static(self, static: Mapping[str, IPv4Address]) -> frozenset[IPv4Address]:
        """The static addresses, or ConfigError for one that is reserved or given to two users."""
        owners: dict[IPv4Address, str] = {}
        for user, address in static.items():
            if address in self._excluded:
                raise ConfigError(f"[[users]] {user!r}: static_ip {address} is the network, broadcast, "
                                  f"gateway or an excluded address")
            if address in owners:
                raise ConfigError(f"[[users]] {user!r}: static_ip {address} is also {owners[address]!r}'s")
            owners[address] = user
        return frozenset(owners)

    def reload_static(self, static: Mapping[str, IPv4Address]) -> None:
        """New per-user static addresses (SIGHUP); ConfigError leaves the pool as it was.

        A newly static address is reserved at once: taken out of the free and held addresses so it
        is never handed to anyone else.  A live session keeps whatever address it has (the new
        owner is refused it, logged, until that session ends; then it stays reserved).  An address
        that is no longer static joins the dynamic addresses when no session holds it.
        """
        addresses = self._check_static(static)
        old = self._reserved - self._excluded
        for address in sorted(addresses - old):
            self._free.pop(address, None)
            self._held.pop(address, None)
            holder = self._in_use.get(address)
            owner = next(u for u, a in static.items() if a == address)
            if holder is not None and self._leases[holder].user != owner:
                self.log.warning("pool: %s is now the static address of %r but a session of %r holds "
                                 "it; it is reserved for %r once that session ends", address,
                                 owner, self._leases[holder].user, owner)
        freed = [a for a in old - addresses if a in self.network and a not in self._in_use]
        self.static = dict(static)
        self._reserved = self._excluded | addresses
        if freed:  # keep the free addresses in ascending order
            self._free = dict.fromkeys(sorted([*self._free, *freed]))
        self.capacity = self.network.num_addresses - sum(1 for a in self._reserved if a in self.network)

    def free_count(self, now: float) -> int:
        """Addresses a new user without a static address could get (held ones included)."""
        self._expire(now)
        return len(self._free) + len(self._held)

    def in_use(self) -> dict[Hashable, IPv4Address]:
        return {key: lease.address for key, lease in self._leases.items()}

    def allocate(self, session_key: Hashable, user: str, now: float,
                 requested: IPv4Address | None = None) -> IPv4Address | None:
        """An address for a new session, or None (logged) when none can be given.

        ``requested`` is an address a backend assigns (RADIUS Framed-IP-Address); a user's static
        address from ``[[users]]`` is used otherwise.
        """
        if session_key in self._leases:
            return self._leases[session_key].address
        self._expire(now)
        wanted = requested or self.static.get(user)
        if wanted is not None:
            return self._allocate_fixed(session_key, user, wanted)
        address = self._held_for(user) or next(iter(self._free), None)
        if address is None and self._held:
            address, hold = next(iter(self._held.items()))
            self.log.info("pool: reusing %s held for %r (no free address left)", address, hold.user)
        if address is None:
            self.log.warning("pool: no free address in %s for %r", self.network, user)
            return None
        self._take(session_key, user, address)
        return address

    def _allocate_fixed(self, session_key: Hashable, user: str, address: IPv4Address) -> IPv4Address | None:
        owner = next((u for u, a in self.static.items() if a == address), None)
        if owner is not None and owner != user:
            self.log.warning("pool: %s is %r's static address, refused to %r", address, owner, user)
            return None
        if address in self._in_use:
            self.log.warning("pool: %r's address %s is in use by another session", user, address)
            return None
        if owner is None and address in self._reserved:
            self.log.warning("pool: %s for %r is reserved (network, broadcast, gateway or excluded)",
                             address, user)
            return None
        self._take(session_key, user, address)
        return address

    def _held_for(self, user: str) -> IPv4Address | None:
        return next((a for a, hold in self._held.items() if hold.user == user), None)

    def _take(self, session_key: Hashable, user: str, address: IPv4Address) -> None:
        self._free.pop(address, None)
        self._held.pop(address, None)
        self._leases[session_key] = _Lease(address, user)
        self._in_use[address] = session_key

    def release(self, session_key: Hashable, now: float) -> None:
        lease = self._leases.pop(session_key, None)
        if lease is None:
            return
        del self._in_use[lease.address]
        if lease.address in self._reserved or lease.address not in self.network:
            return  # a static or backend-assigned address outside the dynamic range
        self._held[lease.address] = _Hold(lease.user, now + self.hold_time)

    def _expire(self, now: float) -> None:
        while self._held:
            address, hold = next(iter(self._held.items()))
            if hold.until > now:
                break
            del self._held[address]
            self._free[address] = None
