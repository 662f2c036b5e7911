"""Which payloads each IKEv1 message must and may carry (rules as data, RFC 2409 §5 / §5.5 / §5.7,
RFC 3947 §3-5, RFC 3706).  :func:`check` enforces a rule on a decoded message."""

from __future__ import annotations

from dataclasses import dataclass

from ikel2tp.ike.constants import NotifyType
from ikel2tp.ike.constants import PayloadType as P
from ikel2tp.ike.errors import IkeError
from ikel2tp.ike.message import Message

MAX_VID = 32
MAX_NOTIFY = 8
MAX_NAT_D = 8
MAX_CERT = 4


@dataclass(frozen=True)
class MessageRule:
    """``required``: payload types that must appear once; ``allowed``: type -> maximum count."""

    required: frozenset[int]
    allowed: dict[int, int]


def _rule(required: set[int], allowed: dict[int, int]) -> MessageRule:
    merged = {t: 1 for t in required} | allowed
    return MessageRule(frozenset(required), merged)


_P1_EXTRAS = {P.VID: MAX_VID, P.N: MAX_NOTIFY, P.CERTREQ: MAX_CERT}
_NATD = {P.NAT_D: MAX_NAT_D, P.NAT_D_DRAFT: MAX_NAT_D}
_NATOA = {P.NAT_OA: 2, P.NAT_OA_DRAFT: 2}

RULES: dict[str, MessageRule] = {
    # Main Mode (RFC 2409 §5): HDR, SA / HDR, KE, Ni / HDR*, IDii, [CERT,] HASH_I or SIG_I
    "main_mode_1": _rule({P.SA}, _P1_EXTRAS),
    "main_mode_2": _rule({P.SA}, _P1_EXTRAS),
    "main_mode_3": _rule({P.KE, P.NONCE}, _P1_EXTRAS | _NATD),
    "main_mode_4": _rule({P.KE, P.NONCE}, _P1_EXTRAS | _NATD),
    "main_mode_5": _rule({P.ID}, {P.HASH: 1, P.SIG: 1, P.CERT: MAX_CERT} | _P1_EXTRAS),
    "main_mode_6": _rule({P.ID}, {P.HASH: 1, P.SIG: 1, P.CERT: MAX_CERT} | _P1_EXTRAS),
    # Aggressive Mode (RFC 2409 §5): SA, KE, Ni, IDii / SA, KE, Nr, IDir, HASH_R / HASH_I (+ NAT-D)
    "aggressive_1": _rule({P.SA, P.KE, P.NONCE, P.ID}, _P1_EXTRAS),
    "aggressive_2": _rule(
        {P.SA, P.KE, P.NONCE, P.ID}, {P.HASH: 1, P.SIG: 1, P.CERT: MAX_CERT} | _P1_EXTRAS | _NATD
    ),
    "aggressive_3": _rule(set(), {P.HASH: 1, P.SIG: 1, P.CERT: MAX_CERT} | _P1_EXTRAS | _NATD),
    # Quick Mode (RFC 2409 §5.5): HDR*, HASH(1), SA, Ni [, KE ] [, IDci, IDcr ] (+ NAT-OA, RFC 3947 §5.2)
    "quick_mode_1": _rule({P.HASH, P.SA, P.NONCE}, {P.KE: 1, P.ID: 2, P.N: MAX_NOTIFY} | _NATOA),
    "quick_mode_2": _rule({P.HASH, P.SA, P.NONCE}, {P.KE: 1, P.ID: 2, P.N: MAX_NOTIFY} | _NATOA),
    "quick_mode_3": _rule({P.HASH}, {}),
    # Informational (RFC 2409 §5.7): HDR*, HASH(1), N/D
    "informational": _rule({P.HASH}, {P.N: MAX_NOTIFY, P.D: MAX_NOTIFY}),
    "informational_plain": _rule(set(), {P.N: 1}),
}


def check(rule_name: str, message: Message) -> None:
    """Raise :class:`IkeError` when ``message`` carries an unknown, disallowed or repeated payload,
    or misses a required one."""
    rule = RULES[rule_name]
    counts: dict[int, int] = {}
    for raw in message.payloads:
        t = raw.payload.type
        counts[t] = counts.get(t, 0) + 1
        if t not in rule.allowed:
            raise IkeError(
                f"payload type {t} not allowed in {rule_name}",
                field=f"payload {t}",
                code=NotifyType.INVALID_PAYLOAD_TYPE,
            )
        if counts[t] > rule.allowed[t]:
            raise IkeError(
                f"payload type {t} repeated in {rule_name}",
                field=f"payload {t}",
                code=NotifyType.PAYLOAD_MALFORMED,
            )
    for t in rule.required:
        if t not in counts:
            raise IkeError(
                f"{rule_name} lacks payload type {t}", field=f"payload {t}", code=NotifyType.PAYLOAD_MALFORMED
            )
    if rule_name == "informational" and P.N not in counts and P.D not in counts:
        raise IkeError("informational without N or D", field="payload", code=NotifyType.PAYLOAD_MALFORMED)
