"""The address pool: unique live leases, reserved addresses never handed out, holds for reconnects."""

from __future__ import annotations

import logging
from ipaddress import IPv4Address, IPv4Network

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ikel2tp.common.errors import ConfigError
from ikel2tp.pool import AddressPool

LOG = logging.getLogger("tests.pool")
NET = IPv4Network("10.42.0.0/28")
GATEWAY = IPv4Address("10.42.0.1")
EXCLUDED = [IPv4Address("10.42.0.5"), IPv4Network("10.42.0.8/30")]
STATIC = {"sam": IPv4Address("10.42.0.14")}
USERS = ["ann", "bob", "sam", "tim"]


def pool(hold_time: float = 60.0) -> AddressPool:
    return AddressPool(NET, gateway=GATEWAY, exclusions=EXCLUDED, static=STATIC, hold_time=hold_time, log=LOG)


def test_capacity_leaves_out_reserved_addresses() -> None:
    p = pool()
    # 14 hosts minus gateway, .5, .8-.11 (the whole /30), and sam's static .14.
    assert p.capacity == 14 - 1 - 1 - 4 - 1
    got = {p.allocate(i, "ann", 0.0) for i in range(p.capacity)}
    assert len(got) == p.capacity and None not in got
    assert p.allocate("one more", "bob", 0.0) is None


def test_static_user_gets_its_address_and_nobody_else_does() -> None:
    p = pool()
    assert p.allocate("s1", "sam", 0.0) == STATIC["sam"]
    assert p.allocate("s2", "sam", 0.0) is None  # already in use by the first session
    p.release("s1", 1.0)
    assert p.allocate("s3", "sam", 1.0) == STATIC["sam"]


def test_reconnecting_user_gets_the_held_address_back() -> None:
    p = pool(hold_time=60.0)
    first = p.allocate("a1", "ann", 0.0)
    other = p.allocate("b1", "bob", 0.0)
    p.release("a1", 10.0)
    assert p.allocate("b2", "bob", 11.0) not in (first, other)
    assert p.allocate("a2", "ann", 12.0) == first


def test_held_address_goes_to_others_only_when_nothing_else_is_free() -> None:
    p = pool(hold_time=1000.0)
    keys = [f"k{i}" for i in range(p.capacity)]
    addresses = [p.allocate(k, "ann", 0.0) for k in keys]
    p.release(keys[0], 1.0)
    assert p.allocate("bob", "bob", 2.0) == addresses[0]


def test_requested_address_from_a_backend() -> None:
    p = pool()
    assert p.allocate("r1", "ann", 0.0, requested=IPv4Address("10.42.0.7")) == IPv4Address("10.42.0.7")
    assert p.allocate("r2", "bob", 0.0, requested=IPv4Address("10.42.0.7")) is None
    assert p.allocate("r3", "bob", 0.0, requested=GATEWAY) is None
    assert p.allocate("r4", "bob", 0.0, requested=STATIC["sam"]) is None
    outside = IPv4Address("198.51.100.9")
    assert p.allocate("r5", "bob", 0.0, requested=outside) == outside
    p.release("r5", 1.0)
    assert outside not in {p.allocate(i, "tim", 1.0) for i in range(20)}


def test_bad_configurations() -> None:
    with pytest.raises(ConfigError):
        AddressPool(IPv4Network("10.0.0.0/8"), gateway=IPv4Address("10.0.0.1"), log=LOG)
    with pytest.raises(ConfigError):
        AddressPool(NET, gateway=GATEWAY, static={"x": GATEWAY}, log=LOG)
    with pytest.raises(ConfigError):
        twice = IPv4Address("10.42.0.3")
        AddressPool(NET, gateway=GATEWAY, static={"x": twice, "y": twice}, log=LOG)


operations = st.lists(
    st.tuples(st.sampled_from(["allocate", "release", "wait"]), st.integers(0, 15), st.sampled_from(USERS)),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(operations, st.sampled_from([0.0, 5.0, 1000.0]))
def test_no_double_allocation_and_reserved_respected(ops: list, hold_time: float) -> None:
    p = pool(hold_time)
    now = 0.0
    live: dict[int, tuple[IPv4Address, str]] = {}
    reserved = {NET.network_address, NET.broadcast_address, GATEWAY, IPv4Address("10.42.0.5")}
    reserved |= set(IPv4Network("10.42.0.8/30"))
    for op, key, user in ops:
        if op == "allocate":
            address = p.allocate(key, user, now)
            if key in live:
                assert address == live[key][0]
                continue
            if address is not None:
                live[key] = (address, user)
                assert address not in reserved
                assert address != STATIC["sam"] or user == "sam"
                if user == "sam":
                    assert address == STATIC["sam"]
        elif op == "release":
            p.release(key, now)
            live.pop(key, None)
        else:
            now += 3.0
        addresses = [a for a, _ in live.values()]
        assert len(addresses) == len(set(addresses))
        assert p.in_use() == {k: a for k, (a, _) in live.items()}

