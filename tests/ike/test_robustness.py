"""Bad input: a (state, message) table walk over the responder and a fuzz run with mutated real
messages.  Only logged drops may result: no exception escapes, no established SA is affected."""

from __future__ import annotations

import random

import pytest

from ikel2tp.ike.events import ChildSaEstablished
from ikel2tp.ike.sa import State
from ikel2tp.ike.settings import IkeSettings
from tests.ike.peers import CLIENT, SERVER, Pair

# MODP groups take their private values from the seeded random: runs are byte-for-byte repeatable.
SETTINGS = IkeSettings(psk=b"table-psk", phase1=("aes128-sha1-modp1024",), phase2=("aes128-sha1",))


def recorded() -> tuple[Pair, list[bytes]]:
    pair = Pair(SETTINGS, SETTINGS)
    pair.start()
    pair.pump()
    assert len(pair.events("server", ChildSaEstablished)) == 1
    return pair, [d for direction, d in pair.wire if direction == "c2s"]


MESSAGES = ["MM1", "MM3", "MM5", "QM1", "QM3"]
STATES = ["none", "MM_SA_SENT", "MM_KE_SENT", "ESTABLISHED", "QM2_SENT", "CHILD"]

# (state, message) -> state after.  Legal moves advance; a retransmission is answered from the
# cache and changes nothing; everything else is a logged drop that changes nothing.
LEGAL = {
    ("none", "MM1"): "MM_SA_SENT",
    ("MM_SA_SENT", "MM3"): "MM_KE_SENT",
    ("MM_KE_SENT", "MM5"): "ESTABLISHED",
    ("ESTABLISHED", "QM1"): "QM2_SENT",
    ("QM2_SENT", "QM3"): "CHILD",
}


def server_state(pair: Pair) -> str:
    sas = pair.server.ike_sas()
    if not sas:
        return "none"
    sa = sas[0]
    if sa.state != State.ESTABLISHED:
        return sa.state.name
    if sa.children:
        return "CHILD"
    return "QM2_SENT" if sa.quick_modes else "ESTABLISHED"


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("message", MESSAGES)
def test_state_message_table(state, message):
    _, wire = recorded()
    fresh = Pair(SETTINGS, SETTINGS)
    for data in wire[: STATES.index(state)]:
        fresh.server.receive_datagram(data, SERVER, CLIENT, 0.0)
    fresh.server.datagrams_to_send()
    assert server_state(fresh) == state
    fresh.server.receive_datagram(wire[MESSAGES.index(message)], SERVER, CLIENT, 0.0)
    expected = LEGAL.get((state, message), state)
    assert server_state(fresh) == expected
    out = fresh.server.datagrams_to_send()
    retransmit = STATES.index(state) > MESSAGES.index(message) and message in ("MM1", "MM3", "MM5", "QM1")
    assert bool(out) == ((state, message) in LEGAL and message != "QM3" or retransmit)


def mutations(data: bytes, rng: random.Random, count: int):
    for _ in range(count):
        kind = rng.randrange(6)
        b = bytearray(data)
        if kind == 0:  # flip bytes
            for _ in range(rng.randint(1, 4)):
                b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        elif kind == 1:  # truncate
            del b[rng.randrange(len(b)) :]
        elif kind == 2:  # append junk
            b += rng.randbytes(rng.randint(1, 64))
        elif kind == 3:  # rewrite a length field (header or a payload's)
            pos = rng.choice([24, 30, 34, 40, 50]) if len(b) > 52 else 24
            b[pos : pos + 2] = rng.randrange(0x10000).to_bytes(2, "big")
        elif kind == 4:  # another exchange type or flags
            b[18 + rng.randrange(2)] = rng.randrange(256)
        else:  # duplicate the payload chain
            b += b[28:]
            b[24:28] = len(b).to_bytes(4, "big")
        yield bytes(b)


def test_fuzzed_real_messages_only_drop():
    pair, wire = recorded()
    server_wire = [d for direction, d in pair.wire if direction == "s2c"]
    rng = random.Random(4711)
    before = [(sa.sa_id, [c.keys.spi_in for c in sa.children]) for sa in pair.server.ike_sas()]
    for data in wire:
        for bad in mutations(data, rng, 120):
            pair.server.receive_datagram(bad, SERVER, CLIENT, 0.0)  # raises nothing
    for data in server_wire:
        for bad in mutations(data, rng, 60):
            pair.client.receive_datagram(bad, CLIENT, SERVER, 0.0)
    pair.server.datagrams_to_send()
    pair.client.datagrams_to_send()
    established = [sa for sa in pair.server.ike_sas() if sa.established]
    assert [(sa.sa_id, [c.keys.spi_in for c in sa.children]) for sa in established] == before
    # the session still works: a phase 2 rekey succeeds after the storm
    pair.server_events.clear()
    pair.client.initiate_child(1, 1.0)
    pair.pump()
    assert len(pair.events("server", ChildSaEstablished)) == 1


def test_drop_logs_are_rate_limited(caplog):
    import logging

    pair, wire = recorded()
    junk = bytes(8) + b"\x01" * 8 + wire[0][16:]  # unknown cookies
    with caplog.at_level(logging.INFO):
        for i in range(100):
            pair.server.receive_datagram(junk, SERVER, ("203.0.113.50", 500), i * 0.05)
        pair.server.receive_datagram(junk, SERVER, ("203.0.113.50", 500), 11.0)
    lines = [r.getMessage() for r in caplog.records if "IKE drop" in r.getMessage()]
    assert len(lines) == 2 and "unknown cookies" in lines[0]
    assert "(99 more like it suppressed)" in lines[1]
