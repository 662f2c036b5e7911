"""The RFC 1661 §4.1 automaton, walked over every (state, event) pair."""

from __future__ import annotations

import itertools
import logging

import pytest

from ikel2tp.ppp.fsm import TIMER_STATES, TRANSITIONS, Action, Automaton, Event, State

LOG = logging.getLogger("tests.fsm")
ALL_PAIRS = list(itertools.product(State, Event))


class Recorder:
    """Records the actions the automaton asks for, by RFC 1661 §4.4 abbreviation."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __getattr__(self, name: str):
        names = {
            "this_layer_up": "tlu", "this_layer_down": "tld", "this_layer_started": "tls",
            "this_layer_finished": "tlf", "send_configure_request": "scr", "send_configure_ack": "sca",
            "send_configure_nak": "scn", "send_terminate_request": "str", "send_terminate_ack": "sta",
            "send_code_reject": "scj", "send_echo_reply": "ser",
        }
        if name not in names:
            raise AttributeError(name)
        return lambda *args: self.calls.append(names[name])


def automaton(state: State, restart_count: int = 5) -> tuple[Automaton, Recorder]:
    recorder = Recorder()
    fsm = Automaton(recorder, name="test", log=LOG, restart_interval=3.0, max_configure=10, max_terminate=2)
    fsm.state = state
    fsm.restart_count = restart_count
    return fsm, recorder


# Rows of RFC 1661 §4.1 written out independently of the parsed table, as (actions, next state).
RFC_ROWS = {
    Event.RCA: {State.CLOSED: ("sta", 2), State.STOPPED: ("sta", 3), State.CLOSING: ("", 4),
                State.STOPPING: ("", 5), State.REQ_SENT: ("irc", 7), State.ACK_RCVD: ("scr", 6),
                State.ACK_SENT: ("irc,tlu", 9), State.OPENED: ("tld,scr", 6)},
    Event.RCR_PLUS: {State.CLOSED: ("sta", 2), State.STOPPED: ("irc,scr,sca", 8), State.CLOSING: ("", 4),
                     State.STOPPING: ("", 5), State.REQ_SENT: ("sca", 8), State.ACK_RCVD: ("sca,tlu", 9),
                     State.ACK_SENT: ("sca", 8), State.OPENED: ("tld,scr,sca", 8)},
    Event.RTR: {State.CLOSED: ("sta", 2), State.STOPPED: ("sta", 3), State.CLOSING: ("sta", 4),
                State.STOPPING: ("sta", 5), State.REQ_SENT: ("sta", 6), State.ACK_RCVD: ("sta", 6),
                State.ACK_SENT: ("sta", 6), State.OPENED: ("tld,zrc,sta", 5)},
    Event.CLOSE: {State.INITIAL: ("", 0), State.STARTING: ("tlf", 0), State.CLOSED: ("", 2),
                  State.STOPPED: ("", 2), State.CLOSING: ("", 4), State.STOPPING: ("", 4),
                  State.REQ_SENT: ("irc,str", 4), State.ACK_RCVD: ("irc,str", 4),
                  State.ACK_SENT: ("irc,str", 4), State.OPENED: ("tld,irc,str", 4)},
    Event.RXJ_MINUS: {State.CLOSED: ("tlf", 2), State.STOPPED: ("tlf", 3), State.CLOSING: ("tlf", 2),
                      State.STOPPING: ("tlf", 3), State.REQ_SENT: ("tlf", 3), State.ACK_RCVD: ("tlf", 3),
                      State.ACK_SENT: ("tlf", 3), State.OPENED: ("tld,irc,str", 5)},
    Event.UP: {State.INITIAL: ("", 2), State.STARTING: ("irc,scr", 6)},
}


@pytest.mark.parametrize(("state", "event"), ALL_PAIRS, ids=[f"{s.name}-{e.name}" for s, e in ALL_PAIRS])
def test_every_state_event_pair(state: State, event: Event) -> None:
    fsm, recorder = automaton(state)
    legal = fsm.handle(event, now=10.0)
    entry = TRANSITIONS.get((state, event))
    if entry is None:
        # An illegal event changes nothing and asks for nothing.
        assert not legal and fsm.state is state and recorder.calls == [] and fsm.restart_count == 5
        return
    actions, target = entry
    assert legal and fsm.state is target
    sent = [a.name.lower() for a in actions if a not in (Action.IRC, Action.ZRC)]
    assert recorder.calls == sent
    if target not in TIMER_STATES:
        assert fsm.deadline is None
    if Action.SCR in actions or Action.STR in actions or Action.ZRC in actions:
        assert fsm.deadline == pytest.approx(13.0)
    if Action.IRC in actions:
        expected = 2 if Action.STR in actions else 10
        sends = Action.SCR in actions or Action.STR in actions
        assert fsm.restart_count == expected - sends  # a transmission counts down at once
    if Action.ZRC in actions:
        assert fsm.restart_count == 0
    row = RFC_ROWS.get(event, {})
    if state in row:
        names, number = row[state]
        assert [a.name.lower() for a in actions] == [n for n in names.split(",") if n]
        assert target == State(number)


def test_table_has_the_rfc_entries_and_no_others() -> None:
    for event, row in RFC_ROWS.items():
        for state in State:
            assert ((state, event) in TRANSITIONS) == (state in row), (state, event)
    assert all(s in TIMER_STATES for (s, e) in TRANSITIONS if e in (Event.TO_PLUS, Event.TO_MINUS))
    assert len(TRANSITIONS) == 120


def test_restart_timer_gives_up_after_max_configure() -> None:
    fsm, recorder = automaton(State.STARTING)
    fsm.handle(Event.UP, 0.0)
    now = 0.0
    while fsm.deadline is not None:
        now = fsm.deadline
        fsm.handle_timer(now)
    # RFC 1661 §4.6: Max-Configure (10) Configure-Requests, then this-layer-finished.
    assert recorder.calls == ["scr"] * 10 + ["tlf"]
    assert fsm.state is State.STOPPED and now == pytest.approx(30.0)


def test_terminate_after_max_terminate() -> None:
    fsm, recorder = automaton(State.OPENED)
    fsm.handle(Event.CLOSE, 0.0)
    while fsm.deadline is not None:
        fsm.handle_timer(fsm.deadline)
    assert recorder.calls == ["tld", "str", "str", "tlf"] and fsm.state is State.CLOSED


def test_timer_before_deadline_does_nothing() -> None:
    fsm, recorder = automaton(State.STARTING)
    fsm.handle(Event.UP, 0.0)
    fsm.handle_timer(2.9)
    assert recorder.calls == ["scr"]
