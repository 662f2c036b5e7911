"""``ikel2tp proposals explain CAPTURE``: every Main Mode and Quick Mode negotiation of a capture,
decoded with the IKE codecs and explained against a policy, or against what the responder answered.

Phase 2 (and Main Mode 5/6) are encrypted.  Given the ISAKMP encryption key per initiator cookie
(Wireshark's ``ikev1_decryption_table``: lines ``"<initiator cookie hex>","<encryption key hex>"``)
they are decrypted with the IV rules of RFC 2409 Appendix B: the phase 1 IV is
hash(g^xi | g^xr) truncated to the block size and chains through MM5 and MM6; each Quick Mode or
Informational message ID starts from hash(last phase 1 CBC block | M-ID) and chains within its
exchange.  A wrong pre-shared key shows as MM5 repeated without MM6, or an INVALID-HASH-INFORMATION
/ AUTHENTICATION-FAILED answer: that is reported as "PSK mismatch", never as a proposal problem.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from ikel2tp.common.errors import ProtocolError
from ikel2tp.crypto.ciphers import BLOCK_SIZES
from ikel2tp.crypto.prf import hash_
from ikel2tp.ike import keymat, proposal
from ikel2tp.ike.constants import ExchangeType, Flag, NotifyType
from ikel2tp.ike.message import Header, Message, decode_plain, decrypt_body, split
from ikel2tp.ike.payloads import (
    IdPayload,
    KePayload,
    NatDPayload,
    NotifyPayload,
    SaPayload,
    VendorIdPayload,
)
from ikel2tp.ike.tasks import vendor
from ikel2tp.proposals.diagnosis import judge_phase1, judge_phase2
from ikel2tp.proposals.pcap import Capture, Datagram
from ikel2tp.proposals.policy import Policy
from ikel2tp.proposals.selectors import explain_ids, explain_mode

ZERO = bytes(8)
PSK_NOTIFIES = {NotifyType.INVALID_HASH_INFORMATION, NotifyType.AUTHENTICATION_FAILED}
PSK_FIX = (
    "fix: type the same pre-shared key on the client as psk in [ike] (or the client's [[ike.peers]] entry)"
)
_TABLE_LINE = re.compile(r'^\s*"([0-9a-fA-F]{16})"\s*,\s*"([0-9a-fA-F]*)"\s*$')


class TableError(ValueError):
    """A decryption table line that is not ``"<16 hex digits>","<key hex>"``."""


def parse_decryption_table(text: str) -> dict[bytes, bytes]:
    """Wireshark's ikev1_decryption_table: initiator cookie -> ISAKMP encryption key."""
    table = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _TABLE_LINE.match(line)
        if match is None or len(match.group(2)) % 2:
            raise TableError(f'line {number}: expected "<initiator cookie, 16 hex digits>","<key hex>"')
        table[bytes.fromhex(match.group(1))] = bytes.fromhex(match.group(2))
    return table


def format_decryption_table(entries: Sequence[tuple[bytes, bytes]]) -> str:
    """The table Wireshark reads (and ``explain --decrypt`` too); it holds keys: keep it private."""
    return "".join(f'"{cookie.hex()}","{key.hex()}"\n' for cookie, key in entries)


@dataclass
class Report:
    """One negotiation (one initiator cookie) in plain words; ``ok`` None when undecided."""

    title: str
    lines: list[str] = field(default_factory=list)
    ok: bool | None = None

    def fail(self, line: str) -> None:
        self.lines.append(line)
        self.ok = False


@dataclass
class _Seen:
    datagram: Datagram
    header: Header
    body: bytes
    from_initiator: bool


def _notifies(message: Message | None) -> list[NotifyPayload]:
    return message.all(NotifyPayload) if message is not None else []


def _names(notifies: list[NotifyPayload]) -> str:
    return ", ".join(n.name().replace("_", "-") for n in notifies)


def _offers(sa: SaPayload, phase: int) -> str:
    if phase == 1:
        labels = [proposal.decode_phase1(t).label() for p in sa.proposals for t in p.transforms]
    else:
        labels = [proposal.decode_phase2(p, t).label() for p in sa.proposals for t in p.transforms]
    return ", ".join(dict.fromkeys(labels))


class _Negotiation:
    """The messages of one initiator cookie, in capture order, and what they say."""

    def __init__(self, icookie: bytes, policy: Policy | None, key: bytes | None) -> None:
        self.icookie = icookie
        self.policy = policy
        self.key = key
        self.seen: list[_Seen] = []
        self.initiator: tuple[str, int] | None = None
        self.responder: tuple[str, int] | None = None
        self._ends: tuple[set, set] = (set(), set())  # endpoints seen for (initiator, responder)
        self.chosen: proposal.Phase1Offer | None = None
        self.natt: str | None = None
        self.nat: bool | None = None
        self.gxi = self.gxr = self.phase1_last = b""

    def _from_initiator(self, d: Datagram) -> bool:
        """Direction by endpoint; a NAT-T float (RFC 3947 §4) moves both sides to new ports, the
        initiator first."""
        assert self.initiator is not None and self.responder is not None
        if self.initiator[0] != self.responder[0]:
            return d.src[0] == self.initiator[0]
        mine, theirs = self._ends
        if d.src in mine or d.dst in theirs:
            forward = True
        elif d.src in theirs or d.dst in mine:
            forward = False
        else:
            forward = True
        (mine if forward else theirs).add(d.src)
        (theirs if forward else mine).add(d.dst)
        return forward

    def add(self, d: Datagram, header: Header, body: bytes) -> None:
        if self.initiator is None:
            self.initiator, self.responder = d.src, d.dst
            self._ends = ({d.src}, {d.dst})
        self.seen.append(_Seen(d, header, body, self._from_initiator(d)))

    # -- explanation --------------------------------------------------------------------------
    def explain(self) -> Report:
        first, last = self.seen[0].datagram, self.seen[-1].datagram
        assert self.initiator is not None and self.responder is not None
        report = Report(
            f"{self.initiator[0]}:{self.initiator[1]} -> {self.responder[0]}:{self.responder[1]}, initiator "
            f"cookie {self.icookie.hex()}, packets {first.number}-{last.number}"
        )
        try:
            self._explain(report)
        except (ProtocolError, ValueError) as exc:
            report.fail(f"cannot explain the rest: {exc}")
        if report.ok is None and report.lines:
            report.ok = True
        return report

    def _plain(self, s: _Seen) -> Message:
        return decode_plain(s.header, s.body)

    def _explain(self, report: Report) -> None:
        phase1 = [
            s
            for s in self.seen
            if s.header.exchange in (ExchangeType.IDENTITY_PROTECTION, ExchangeType.AGGRESSIVE)
        ]
        plain = [s for s in phase1 if not s.header.flags & Flag.ENCRYPTION]
        mm1 = next((s for s in plain if s.from_initiator and s.header.rcookie == ZERO), None)
        if mm1 is None:
            report.lines.append("phase 1: the first message is not in the capture")
            return
        m1 = self._plain(mm1)
        if mm1.header.exchange == ExchangeType.AGGRESSIVE:
            report.lines.append(
                "phase 1: the client uses Aggressive Mode; ikel2tp accepts Main Mode only unless "
                "aggressive_mode = true in [ike] (Aggressive Mode exposes a PSK hash)"
            )
        sa1 = m1.first(SaPayload)
        if sa1 is None:
            report.fail("phase 1: the client's first message carries no SA payload")
            return
        ext, _ = vendor.recognise([v.data for v in m1.all(VendorIdPayload)])
        self.natt = ext.natt
        report.lines.append(f"client kind: {ext.client_kind}; phase 1 offers {_offers(sa1, 1)}")
        ours = None
        if self.policy is not None:
            verdict, ours = judge_phase1(sa1, self.policy)
            report.lines.extend(verdict.lines)
        answers = [s for s in plain if not s.from_initiator]
        mm2 = next((s for s in answers if self._plain(s).first(SaPayload) is not None), None)
        refused = [
            n
            for s in self.seen
            if not s.from_initiator
            and s.header.exchange == ExchangeType.INFORMATIONAL
            and not s.header.flags & Flag.ENCRYPTION
            for n in _notifies(self._plain(s))
        ]
        if mm2 is None:
            repeats = sum(1 for s in self.seen if s.from_initiator and s.datagram.data == mm1.datagram.data)
            if refused:
                report.fail(
                    f"phase 1 refused by the responder ({_names(refused)}); the client offered "
                    f"{_offers(sa1, 1)}"
                    + ("" if self.policy else "; run with --config to name the attribute that differs")
                )
            else:
                report.fail(
                    f"phase 1: no answer to the client's first message (sent {repeats} time(s)): UDP 500 "
                    "blocked on the way, or the server drops it (see its log)"
                )
            return
        m2 = self._plain(mm2)
        self.chosen = chosen = proposal.decode_phase1(m2.first(SaPayload).proposals[0].transforms[0])
        report.lines.append(f"phase 1: the responder chose {chosen.label()}")
        if (
            self.policy is not None
            and isinstance(ours, proposal.Phase1Choice)
            and ours.offer.label() != chosen.label()
        ):
            report.lines.append(
                f"phase 1: with this configuration ikel2tp would choose {ours.offer.label()} instead"
            )
        self._main_mode_keys(plain)
        self._phase1_auth(report, phase1, refused)
        if report.ok is False:
            return
        self._phase2(report)

    def _main_mode_keys(self, plain: list[_Seen]) -> None:
        """g^xi, g^xr and NAT-D from MM3/MM4 (for the IVs and the NAT verdict).

        With both sides' NAT-D the verdict is what the peers themselves concluded (RFC 3947 §3.2:
        the first hash names the receiver's address, the others the sender's own), which does not
        depend on where the capture was taken (before or after a DNAT).  With one side only, the
        hashes are compared with the captured addresses.
        """
        assert self.chosen is not None
        sent: dict[bool, list[bytes]] = {}
        for s in plain:
            m = self._plain(s)
            ke = m.first(KePayload)
            if ke is None:
                continue
            if s.from_initiator:
                self.gxi = ke.data
            else:
                self.gxr = ke.data
            natd = [p.data for p in m.all(NatDPayload)]
            if natd:
                sent.setdefault(s.from_initiator, natd)
            if natd and self.chosen.suite is not None:
                hash_name = self.chosen.suite.hash
                icookie, rcookie = s.header.icookie, s.header.rcookie
                seen = {
                    keymat.nat_d(hash_name, icookie, rcookie, ipaddress.ip_address(a[0]).packed, a[1])
                    for a in (s.datagram.src, s.datagram.dst)
                }
                self.nat = bool(self.nat) or not all(h in seen for h in natd)
        if sent.get(True) and sent.get(False):
            mine, theirs = sent[True], sent[False]
            self.nat = theirs[0] not in mine[1:] or mine[0] not in theirs[1:]

    # -- decryption (RFC 2409 App. B) ---------------------------------------------------------
    def _can_decrypt(self) -> bool:
        suite = self.chosen.suite if self.chosen else None
        return (
            self.key is not None
            and suite is not None
            and suite.cipher in BLOCK_SIZES
            and bool(self.gxi)
            and bool(self.gxr)
        )

    def _decrypt(self, s: _Seen, iv: bytes) -> tuple[Message, bytes]:
        assert self.chosen is not None and self.chosen.suite is not None and self.key is not None
        suite = self.chosen.suite
        plain = decrypt_body(s.body, suite.cipher, self.key, iv)
        return decode_plain(s.header, plain), s.body[-BLOCK_SIZES[suite.cipher] :]

    def _phase1_auth(self, report: Report, phase1: list[_Seen], refused: list[NotifyPayload]) -> None:
        encrypted = [s for s in phase1 if s.header.flags & Flag.ENCRYPTION]
        mm5 = [s for s in encrypted if s.from_initiator]
        mm6 = [s for s in encrypted if not s.from_initiator]
        assert self.chosen is not None
        label = self.chosen.label()
        psk = [n for n in refused if n.notify_type in PSK_NOTIFIES]
        if not mm5:
            if psk:
                report.fail(
                    f"PSK mismatch: the responder answered {_names(psk)} before Main Mode 5; "
                    f"the proposal was agreed ({label}); {PSK_FIX}"
                )
            elif refused:
                report.fail(f"phase 1 failed: the responder answered {_names(refused)}")
            else:
                report.fail("phase 1: stopped before Main Mode 5 (the key exchange did not complete)")
            return
        decrypted = self._decrypt_phase1(mm5, mm6)
        if decrypted is False:
            report.fail(
                f"PSK mismatch: Main Mode 5 does not decrypt with the key in the table; the proposal "
                f"was agreed ({label}), the pre-shared keys (or the table) differ; {PSK_FIX}"
            )
            return
        distinct5 = len({s.datagram.data for s in mm5})
        if psk:
            report.fail(
                f"PSK mismatch: the client sent Main Mode 5 (its ID and HASH_I) and the responder "
                f"answered {_names(psk)}; the proposal was agreed ({label}); {PSK_FIX}"
            )
        elif not mm6 and len(mm5) > 1:
            report.fail(
                f"PSK mismatch: the client sent Main Mode 5 (its ID and HASH_I) {len(mm5)} times"
                f"{'' if distinct5 == 1 else f' ({distinct5} different)'} and the responder never "
                f"answered with Main Mode 6; the proposal was agreed ({label}), the pre-shared keys "
                f"differ; {PSK_FIX}"
            )
        elif not mm6:
            report.fail(
                "phase 1: no answer to Main Mode 5 in the capture: a PSK mismatch if the client repeats "
                "it (the capture is too short to tell)"
            )
        else:
            report.lines.append(
                f"phase 1: established ({label}" + (", NAT detected: UDP 4500" if self.nat else "") + ")"
            )

    def _decrypt_phase1(self, mm5: list[_Seen], mm6: list[_Seen]) -> bool | None:
        """Chain the phase 1 IV through MM5 and MM6; False when MM5 does not decrypt."""
        if not self._can_decrypt():
            return None
        assert self.chosen is not None and self.chosen.suite is not None
        suite = self.chosen.suite
        block = BLOCK_SIZES[suite.cipher]
        iv = hash_(suite.hash, self.gxi + self.gxr)[:block]
        done = set()
        for s in [mm5[0], *mm6[:1]]:
            if s.datagram.data in done:
                continue
            done.add(s.datagram.data)
            try:
                message, iv = self._decrypt(s, iv)
            except ProtocolError:
                return False if s is mm5[0] else None
            if message.first(IdPayload) is None:
                return False
        self.phase1_last = iv
        return True

    # -- phase 2 ------------------------------------------------------------------------------
    def _phase2(self, report: Report) -> None:
        later = [
            s
            for s in self.seen
            if s.header.exchange in (ExchangeType.QUICK_MODE, ExchangeType.INFORMATIONAL)
            and s.header.flags & Flag.ENCRYPTION
        ]
        if not later:
            report.lines.append("phase 2: no Quick Mode in the capture")
            return
        quick = [s for s in later if s.header.exchange == ExchangeType.QUICK_MODE]
        if not self.phase1_last:
            mids = dict.fromkeys(s.header.message_id for s in quick)
            why = (
                "pass --decrypt TABLE (the ikev1_decryption_table ikel2tp serve exports) to explain it"
                if self.key is None
                else "it does not decrypt with the key in the table"
            )
            for mid in mids:
                ours = [s for s in quick if s.header.message_id == mid]
                prefix = f"phase 2 (message ID {mid:#010x})"
                answered = any(not s.from_initiator for s in ours)
                notified = any(
                    not s.from_initiator and s.header.exchange == ExchangeType.INFORMATIONAL for s in later
                )
                if not answered and notified:
                    report.fail(
                        f"{prefix}: the client sent Quick Mode 1 {len(ours)} time(s); the responder answered "
                        f"only with an encrypted notification (most likely NO-PROPOSAL-CHOSEN or "
                        f"INVALID-ID-INFORMATION); {why}"
                    )
                else:
                    report.lines.append(f"{prefix}: {len(ours)} encrypted Quick Mode messages; {why}")
            return
        messages: dict[int, list[tuple[_Seen, Message]]] = {}
        ivs: dict[int, bytes] = {}
        assert self.chosen is not None and self.chosen.suite is not None
        suite = self.chosen.suite
        block = BLOCK_SIZES[suite.cipher]
        done = set()
        for s in later:
            mid = s.header.message_id
            if s.datagram.data in done:
                continue
            done.add(s.datagram.data)
            iv = ivs.get(mid) or keymat.message_iv(suite.hash, self.phase1_last, mid, block)
            try:
                message, ivs[mid] = self._decrypt(s, iv)
            except ProtocolError as exc:
                report.lines.append(f"packet {s.datagram.number}: does not decrypt ({exc})")
                continue
            messages.setdefault(mid, []).append((s, message))
        notices = [
            (s, n)
            for items in messages.values()
            for s, m in items
            if s.header.exchange == ExchangeType.INFORMATIONAL
            for n in m.all(NotifyPayload)
        ]
        for mid, items in messages.items():
            if items[0][0].header.exchange == ExchangeType.QUICK_MODE:
                self._quick_mode(report, mid, items, notices)

    def _quick_mode(
        self,
        report: Report,
        mid: int,
        items: list[tuple[_Seen, Message]],
        notices: list[tuple[_Seen, NotifyPayload]],
    ) -> None:
        qm1 = next((m for s, m in items if s.from_initiator), None)
        prefix = f"phase 2 (message ID {mid:#010x})"
        if qm1 is None or qm1.first(SaPayload) is None:
            report.lines.append(f"{prefix}: the client's first message is not in the capture")
            return
        sa = qm1.first(SaPayload)
        report.lines.append(f"{prefix}: client offers {_offers(sa, 2)}")
        if self.policy is not None:
            verdict, _ = judge_phase2(sa, self.policy)
            report.lines.extend(verdict.lines)
        served = list(self.policy.served) if self.policy and self.policy.served else []
        if not served and self.responder is not None:
            served = [self.responder[0]]
        report.lines.extend(explain_ids(qm1.all(IdPayload), served))
        first = next((proposal.decode_phase2(p, t) for p in sa.proposals for t in p.transforms), None)
        if first is not None:
            report.lines.extend(explain_mode(first.mode, self.natt, self.nat))
        qm2 = next((m for s, m in items if not s.from_initiator and m.first(SaPayload) is not None), None)
        spis = {p.spi for p in sa.proposals}
        refusal = [
            n
            for s, n in notices
            if not s.from_initiator and n.notify_type < NotifyType.CONNECTED and (n.spi in spis or not n.spi)
        ]
        if qm2 is not None:
            chosen = qm2.first(SaPayload).proposals[0]
            offer = proposal.decode_phase2(chosen, chosen.transforms[0])
            done = any(s.from_initiator for s, m in items[1:])
            report.lines.append(
                f"{prefix}: the responder chose {offer.label()}"
                + ("; established" if done else "; the client's third message is missing")
            )
        elif refusal:
            report.fail(
                f"{prefix}: refused by the responder ({_names(refusal)}); the client offered "
                f"{_offers(sa, 2)}"
                + ("" if self.policy else "; run with --config to name the attribute that differs")
            )
            if any(n.notify_type == NotifyType.INVALID_ID_INFORMATION for n in refusal):
                report.lines.append(
                    f"{prefix}: INVALID-ID-INFORMATION does not always mean the IDs: Cisco "
                    "answers a transform set mismatch the same way ('proxy identities not "
                    "supported'); compare the proposals first"
                )
        else:
            report.fail(f"{prefix}: no answer from the responder")


def explain_capture(
    capture: Capture, policy: Policy | None = None, table: dict[bytes, bytes] | None = None
) -> tuple[list[Report], list[str]]:
    """(one report per negotiation, notes on packets that are not IKE or not usable)."""
    table = table or {}
    negotiations: dict[bytes, _Negotiation] = {}
    notes = [f"{count} packet(s) skipped: {reason}" for reason, count in sorted(capture.skipped.items())]
    for d in capture.datagrams:
        try:
            header, body = split(d.data)
        except ProtocolError as exc:
            notes.append(f"packet {d.number}: not an ISAKMP message ({exc.reason})")
            continue
        neg = negotiations.get(header.icookie)
        if neg is None:
            neg = negotiations[header.icookie] = _Negotiation(
                header.icookie, policy, table.get(header.icookie)
            )
        neg.add(d, header, body)
    if not capture.datagrams:
        notes.append(f"no IKE traffic (UDP 500/4500) among {capture.packets} packet(s)")
    return [n.explain() for n in negotiations.values()], notes
