"""One line per refusal: the field, both sides' values and the configuration line that fixes it.

Everything here reads the engine's :class:`~ikel2tp.ike.proposal.Refusal` (the same object whose
``text`` the server logs) or its choices; nothing here selects proposals itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from ikel2tp.common.buffer import Buffer
from ikel2tp.ike import proposal
from ikel2tp.ike.payloads import SaPayload, pull_sa, push_sa
from ikel2tp.ike.proposal import Lifetime, Phase1Choice, Phase2Choice, Refusal
from ikel2tp.ike.suites import parse_phase1, parse_phase2, weak_parts
from ikel2tp.proposals.policy import Policy
from ikel2tp.proposals.profiles import ClientProfile

PHASE_KEY = {1: "phase1", 2: "phase2"}
CLIENT_SPI = 0x0C11E47  # the SPI a simulated client puts in its phase 2 proposals
CLIENT_PHASE1_LIFETIME = 28800


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _suite_part(label: str) -> str:
    """``"aes256-sha1-modp2048/rsasig"`` -> ``"aes256-sha1-modp2048"``."""
    return label.split("/", 1)[0]


def _add_line(phase: int, label: str) -> str:
    suite_text = _suite_part(label)
    line = f'add "{suite_text}" to [ike] {PHASE_KEY[phase]}'
    try:
        suite = parse_phase1(suite_text) if phase == 1 else parse_phase2(suite_text)
    except ValueError:
        return line
    weak = weak_parts(suite)
    return (
        f"{line} (weak: {', '.join(weak)}; better make the client offer a stronger suite)" if weak else line
    )


def fix_for(refusal: Refusal) -> str:
    """The configuration line (or client change) that makes the nearest miss succeed."""
    if not refusal.allowed:
        return "set psk (or cert and key) in [ike]: no authentication method is configured"
    nearest = refusal.nearest
    if nearest is None:
        offered = ", ".join(refusal.offered) or "nothing"
        return (
            f"the client offers only {offered}, which ikel2tp does not support; configure the client "
            f"for one of: {', '.join(refusal.allowed[:3])}"
        )
    fixes: list[str] = []
    suite_fields = False
    for d in nearest.differences:
        if d.attribute == "authentication":
            fixes.append(
                "set cert and key in [ike] (the client authenticates with a certificate)"
                if d.peer == "rsasig"
                else f"set psk in [ike] (the client uses {d.peer})"
                if d.peer == "psk"
                else f"configure the client for a pre-shared key or certificate (it uses {d.peer})"
            )
        elif d.attribute == "encapsulation mode":
            fixes.append(
                f"set the client to transport mode (it asks for {d.peer}; "
                "L2TP/IPsec runs ESP in transport mode)"
            )
        else:
            suite_fields = True
    if suite_fields:
        fixes.insert(0, _add_line(refusal.phase, nearest.offered))
    return " and ".join(fixes)


def explain_refusal(refusal: Refusal) -> str:
    """``phase 1 refused: hash: client sha1, server md5; fix: add "..." to [ike] phase1``."""
    if refusal.nearest is None:
        what = "no proposal the server can use" if refusal.allowed else "no authentication method configured"
        return f"phase {refusal.phase} refused: {what}; fix: {fix_for(refusal)}"
    diffs = "; ".join(f"{d.attribute}: client {d.peer}, server {d.ours}" for d in refusal.nearest.differences)
    return f"phase {refusal.phase} refused: {diffs}; fix: {fix_for(refusal)}"


@dataclass(frozen=True)
class PhaseVerdict:
    """One phase's outcome: the engine's choice or refusal, and the lines that say it."""

    phase: int
    ok: bool
    lines: tuple[str, ...]


def chosen_phase1(sa: SaPayload, choice: Phase1Choice) -> str:
    offers = [t for p in sa.proposals for t in p.transforms]
    index = offers.index(choice.offer.transform) + 1
    skipped = [proposal.decode_phase1(t).label() for t in offers[: index - 1]]
    line = f"phase 1: chosen {choice.offer.label()} (the client's {_ordinal(index)} proposal"
    if skipped:
        line += f"; its earlier {', '.join(skipped)} not allowed by [ike] phase1"
    return line + ")"


def chosen_phase2(sa: SaPayload, choice: Phase2Choice) -> str:
    offers = [(p, t) for p in sa.proposals for t in p.transforms]
    index = offers.index((choice.offer.proposal, choice.offer.transform)) + 1
    skipped = [proposal.decode_phase2(p, t).label() for p, t in offers[: index - 1]]
    mode = "UDP-encapsulated transport" if choice.offer.udp_encap else "transport"
    line = f"phase 2: chosen {choice.offer.label()}, {mode} mode (the client's {_ordinal(index)} proposal"
    if skipped:
        line += f"; its earlier {', '.join(skipped)} not allowed by [ike] phase2"
    line += ")"
    if choice.capped:
        line += f"; lifetime lowered to {choice.lifetime.seconds} s (RESPONDER-LIFETIME)"
    return line


def judge_phase1(sa: SaPayload, policy: Policy) -> tuple[PhaseVerdict, Phase1Choice | Refusal]:
    """Run a received (or simulated) phase 1 SA payload through the responder's selection."""
    result = proposal.select_phase1(sa, policy.phase1, policy.auth_methods)
    if isinstance(result, Refusal):
        return PhaseVerdict(1, False, (explain_refusal(result), f"server log: {result.text}")), result
    return PhaseVerdict(1, True, (chosen_phase1(sa, result),)), result


def judge_phase2(sa: SaPayload, policy: Policy) -> tuple[PhaseVerdict, Phase2Choice | Refusal]:
    result = proposal.select_phase2(sa, policy.phase2, Lifetime(policy.phase2_lifetime))
    if isinstance(result, Refusal):
        return PhaseVerdict(2, False, (explain_refusal(result), f"server log: {result.text}")), result
    return PhaseVerdict(2, True, (chosen_phase2(sa, result),)), result


def _on_the_wire(sa: SaPayload) -> SaPayload:
    """Encode and decode again, so the engine sees exactly what a responder would receive."""
    buf = Buffer()
    push_sa(buf, sa)
    return pull_sa(Buffer(buf.data()))


def client_phase1_sa(profile: ClientProfile) -> SaPayload:
    return _on_the_wire(
        proposal.phase1_sa(profile.phase1_suites, profile.auth_method, CLIENT_PHASE1_LIFETIME)
    )


def client_phase2_sa(profile: ClientProfile) -> SaPayload:
    return _on_the_wire(proposal.phase2_sa(profile.phase2_suites, CLIENT_SPI, profile.mode, Lifetime(3600)))


def check(profile: ClientProfile, policy: Policy) -> list[PhaseVerdict]:
    """``ikel2tp proposals check``: the profile's offers, in its order, against the policy."""
    v1, _ = judge_phase1(client_phase1_sa(profile), policy)
    v2, _ = judge_phase2(client_phase2_sa(profile), policy)
    return [v1, v2]
