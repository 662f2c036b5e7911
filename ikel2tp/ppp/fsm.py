"""The RFC 1661 §4 option negotiation automaton, shared by LCP and every NCP.

The transition table is RFC 1661 §4.1 copied as text and parsed at import, so it can be read
against the RFC line by line and walked by tests for every (state, event) pair.  The automaton owns
the restart timer and counter (§4.6); everything that sends or reports goes through the
:class:`AutomatonActions` object (the control protocol using it).
"""

from __future__ import annotations

import logging
from enum import IntEnum
from typing import Protocol


class State(IntEnum):
    """RFC 1661 §4.2."""

    INITIAL = 0
    STARTING = 1
    CLOSED = 2
    STOPPED = 3
    CLOSING = 4
    STOPPING = 5
    REQ_SENT = 6
    ACK_RCVD = 7
    ACK_SENT = 8
    OPENED = 9


class Event(IntEnum):
    """RFC 1661 §4.3."""

    UP = 0
    DOWN = 1
    OPEN = 2
    CLOSE = 3
    TO_PLUS = 4
    TO_MINUS = 5
    RCR_PLUS = 6
    RCR_MINUS = 7
    RCA = 8
    RCN = 9
    RTR = 10
    RTA = 11
    RUC = 12
    RXJ_PLUS = 13
    RXJ_MINUS = 14
    RXR = 15


class Action(IntEnum):
    """RFC 1661 §4.4."""

    TLU = 0  # this-layer-up
    TLD = 1  # this-layer-down
    TLS = 2  # this-layer-started
    TLF = 3  # this-layer-finished
    IRC = 4  # initialize-restart-count
    ZRC = 5  # zero-restart-count
    SCR = 6  # send-configure-request
    SCA = 7  # send-configure-ack
    SCN = 8  # send-configure-nak/rej
    STR = 9  # send-terminate-request
    STA = 10  # send-terminate-ack
    SCJ = 11  # send-code-reject
    SER = 12  # send-echo-reply


# RFC 1661 §4.1 state transition table.  "-" is an illegal event (logged and ignored).  The
# "r" (restart), "x" (crossed connection) and "p" (passive) annotations are informational: we take
# the default of staying in the state shown.
_TABLE_TEXT = """
      | 0         1         2         3             4         5
 Up   | 2         irc,scr/6 -         -             -         -
 Down | -         -         0         tls/1         0         1
 Open | tls/1     1         irc,scr/6 3r            5r        5r
 Close| 0         tlf/0     2         2             4         4
 TO+  | -         -         -         -             str/4     str/5
 TO-  | -         -         -         -             tlf/2     tlf/3
 RCR+ | -         -         sta/2     irc,scr,sca/8 4         5
 RCR- | -         -         sta/2     irc,scr,scn/6 4         5
 RCA  | -         -         sta/2     sta/3         4         5
 RCN  | -         -         sta/2     sta/3         4         5
 RTR  | -         -         sta/2     sta/3         sta/4     sta/5
 RTA  | -         -         2         3             tlf/2     tlf/3
 RUC  | -         -         scj/2     scj/3         scj/4     scj/5
 RXJ+ | -         -         2         3             4         5
 RXJ- | -         -         tlf/2     tlf/3         tlf/2     tlf/3
 RXR  | -         -         2         3             4         5

      | 6         7         8         9
 Up   | -         -         -         -
 Down | 1         1         1         tld/1
 Open | 6         7         8         9r
 Close| irc,str/4 irc,str/4 irc,str/4 tld,irc,str/4
 TO+  | scr/6     scr/6     scr/8     -
 TO-  | tlf/3p    tlf/3p    tlf/3p    -
 RCR+ | sca/8     sca,tlu/9 sca/8     tld,scr,sca/8
 RCR- | scn/6     scn/7     scn/6     tld,scr,scn/6
 RCA  | irc/7     scr/6x    irc,tlu/9 tld,scr/6x
 RCN  | irc,scr/6 scr/6x    irc,scr/8 tld,scr/6x
 RTR  | sta/6     sta/6     sta/6     tld,zrc,sta/5
 RTA  | 6         6         8         tld,scr/6
 RUC  | scj/6     scj/7     scj/8     scj/9
 RXJ+ | 6         6         8         9
 RXJ- | tlf/3     tlf/3     tlf/3     tld,irc,str/5
 RXR  | 6         7         8         ser/9
"""

_EVENT_NAMES = {
    "Up": Event.UP, "Down": Event.DOWN, "Open": Event.OPEN, "Close": Event.CLOSE,
    "TO+": Event.TO_PLUS, "TO-": Event.TO_MINUS, "RCR+": Event.RCR_PLUS, "RCR-": Event.RCR_MINUS,
    "RCA": Event.RCA, "RCN": Event.RCN, "RTR": Event.RTR, "RTA": Event.RTA, "RUC": Event.RUC,
    "RXJ+": Event.RXJ_PLUS, "RXJ-": Event.RXJ_MINUS, "RXR": Event.RXR,
}


def _parse_table(text: str) -> dict[tuple[State, Event], tuple[tuple[Action, ...], State]]:
    table: dict[tuple[State, Event], tuple[tuple[Action, ...], State]] = {}
    states: list[State] = []
    for line in text.strip().splitlines():
        if not line.strip():
            continue
        head, cells = line.split("|")
        if not head.strip():
            states = [State(int(cell)) for cell in cells.split()]
            continue
        event = _EVENT_NAMES[head.strip()]
        for state, cell in zip(states, cells.split(), strict=True):
            if cell == "-":
                continue
            actions, _, target = cell.rpartition("/")
            names = [name for name in actions.split(",") if name]
            table[state, event] = (
                tuple(Action[name.upper()] for name in names),
                State(int(target.rstrip("rxp"))),
            )
    return table


TRANSITIONS = _parse_table(_TABLE_TEXT)

# States in which the restart timer runs (RFC 1661 §4.6).
TIMER_STATES = frozenset({State.CLOSING, State.STOPPING, State.REQ_SENT, State.ACK_RCVD, State.ACK_SENT})


class AutomatonActions(Protocol):
    """What a control protocol does for the automaton's actions (RFC 1661 §4.4)."""

    def this_layer_up(self, now: float) -> None: ...
    def this_layer_down(self, now: float) -> None: ...
    def this_layer_started(self, now: float) -> None: ...
    def this_layer_finished(self, now: float) -> None: ...
    def send_configure_request(self) -> None: ...
    def send_configure_ack(self) -> None: ...
    def send_configure_nak(self) -> None: ...
    def send_terminate_request(self) -> None: ...
    def send_terminate_ack(self) -> None: ...
    def send_code_reject(self) -> None: ...
    def send_echo_reply(self) -> None: ...


_ACTION_METHODS = {
    Action.TLU: "this_layer_up",
    Action.TLD: "this_layer_down",
    Action.TLS: "this_layer_started",
    Action.TLF: "this_layer_finished",
}
_SEND_METHODS = {
    Action.SCR: "send_configure_request",
    Action.SCA: "send_configure_ack",
    Action.SCN: "send_configure_nak",
    Action.STR: "send_terminate_request",
    Action.STA: "send_terminate_ack",
    Action.SCJ: "send_code_reject",
    Action.SER: "send_echo_reply",
}


class Automaton:
    """One RFC 1661 automaton with its restart timer and counter (§4.6)."""

    def __init__(
        self,
        actions: AutomatonActions,
        *,
        name: str,
        log: logging.Logger,
        restart_interval: float = 3.0,
        max_configure: int = 10,
        max_terminate: int = 2,
    ) -> None:
        self.actions = actions
        self.name = name
        self.log = log
        self.restart_interval = restart_interval
        self.max_configure = max_configure
        self.max_terminate = max_terminate
        self.state = State.INITIAL
        self.restart_count = 0
        self.deadline: float | None = None

    def handle(self, event: Event, now: float) -> bool:
        """Apply ``event``; False (and nothing changes) when the table has no entry for it."""
        entry = TRANSITIONS.get((self.state, event))
        if entry is None:
            self.log.debug("%s: event %s ignored in state %s", self.name, event.name, self.state.name)
            return False
        actions, target = entry
        self.log.debug("%s: %s %s -> %s", self.name, self.state.name, event.name, target.name)
        self.state = target
        if target not in TIMER_STATES:
            self.deadline = None
        for action in actions:
            if action is Action.IRC:
                # §4.4: Max-Terminate before a Terminate-Request, Max-Configure otherwise.
                self.restart_count = self.max_terminate if Action.STR in actions else self.max_configure
            elif action is Action.ZRC:
                self.restart_count = 0
                self.deadline = now + self.restart_interval
            elif action in (Action.SCR, Action.STR):
                # §4.6: the counter drops on each transmission and the timer (re)starts.
                self.restart_count -= 1
                self.deadline = now + self.restart_interval
                getattr(self.actions, _SEND_METHODS[action])()
            elif action in _SEND_METHODS:
                getattr(self.actions, _SEND_METHODS[action])()
            else:
                getattr(self.actions, _ACTION_METHODS[action])(now)
        return True

    def handle_timer(self, now: float) -> None:
        """Fire TO+ or TO- when the restart timer has expired (§4.6)."""
        if self.deadline is None or now < self.deadline:
            return
        self.deadline = None
        self.handle(Event.TO_PLUS if self.restart_count > 0 else Event.TO_MINUS, now)
