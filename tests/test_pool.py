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



def test_reload_reserves_a_new_static_address_at_once() -> None:
    p = pool()
    ann = IPv4Address("10.42.0.2")
    assert p.allocate("a1", "ann", 0.0) == ann
    p.release("a1", 1.0)  # held for ann
    bob = IPv4Address("10.42.0.3")
    before = p.capacity
    p.reload_static({**STATIC, "tim": ann, "bob": bob})
    assert p.capacity == before - 2 and p.static["tim"] == ann
    got = {p.allocate(i, "ann", 2.0) for i in range(p.capacity)}
    assert ann not in got and bob not in got and None not in got  # neither held nor free any more
    assert p.allocate("t1", "tim", 2.0) == ann and p.allocate("b1", "bob", 2.0) == bob


def test_reload_while_someone_else_holds_the_address(caplog) -> None:
    p = pool()
    address = p.allocate("a1", "ann", 0.0)
    p.reload_static({**STATIC, "tim": address})
    assert "is now the static address of 'tim' but a session of 'ann' holds it" in caplog.text
    assert p.allocate("t1", "tim", 1.0) is None  # ann's live session keeps it
    p.release("a1", 2.0)
    assert address not in {p.allocate(i, "ann", 2.0) for i in range(p.capacity)}  # not held for ann
    assert p.allocate("t2", "tim", 3.0) == address


def test_reload_returns_an_address_that_is_no_longer_static() -> None:
    p = pool()
    sam = STATIC["sam"]
    assert p.allocate("s1", "sam", 0.0) == sam
    p.reload_static({})
    assert p.capacity == pool().capacity + 1 and p.in_use() == {"s1": sam}  # the session keeps it
    p.release("s1", 1.0)
    p.reload_static({"ann": IPv4Address("10.42.0.2")})
    p.reload_static({})  # .2 back among the free ones, in order
    got = [p.allocate(i, "bob", 1.0) for i in range(p.capacity)]
    assert got[0] == IPv4Address("10.42.0.2") and sam in got and None not in got


def test_a_bad_reload_changes_nothing() -> None:
    p = pool()
    for bad in ({"x": GATEWAY}, {"x": IPv4Address("10.42.0.3"), "y": IPv4Address("10.42.0.3")}):
        with pytest.raises(ConfigError):
            p.reload_static(bad)
    assert p.static == STATIC and p.capacity == pool().capacity
    assert p.allocate("s", "sam", 0.0) == STATIC["sam"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["allocate", "release", "reload"]), st.integers(0, 15),
                          st.sampled_from(USERS), st.integers(2, 14)), max_size=60))
def test_reloads_never_double_allocate_or_give_a_static_address_away(ops: list) -> None:
    p = pool(hold_time=5.0)
    static = dict(STATIC)
    live: dict[int, tuple[IPv4Address, str]] = {}
    for now, (op, key, user, host) in enumerate(ops):
        if op == "allocate":
            address = p.allocate(key, user, float(now))
            if address is not None and key not in live:
                owner = next((u for u, a in static.items() if a == address), None)
                assert owner in (None, user)  # a static address goes to its owner only
                live[key] = (address, user)
        elif op == "release":
            p.release(key, float(now))
            live.pop(key, None)
        else:
            address = NET.network_address + host
            wanted = {u: a for u, a in static.items() if u != user and a != address} | {user: address}
            try:
                p.reload_static(wanted)
                static = wanted
            except ConfigError:  # the gateway, .5 or .8-.11: refused, nothing changed
                assert p.static == static
        addresses = [a for a, _ in live.values()]
        assert len(addresses) == len(set(addresses))
        assert p.in_use() == {k: a for k, (a, _) in live.items()}
