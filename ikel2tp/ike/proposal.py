"""The proposal engine: suites <-> IKEv1 transforms, selection, and the explanation of a refusal.

Selection (RFC 2408 §4.2, RFC 2409 §5) walks the *initiator's* proposals and transforms in their
order and picks the first one our configured list allows.  When nothing fits, :class:`Refusal` says
what the peer offered (as suite strings), what we allow and the nearest miss per attribute.
``ikel2tp proposals`` builds on these same functions: selection and explanation live only here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ikel2tp.ike import suites
from ikel2tp.ike.constants import (
    KEY_IKE,
    AuthAlgorithm,
    AuthMethod,
    EncapsulationMode,
    EspTransform,
    LifeType,
    Phase1Attribute,
    Phase1Encryption,
    Phase1Hash,
    Phase2Attribute,
    ProtocolId,
)
from ikel2tp.ike.payloads import Attribute, Proposal, SaPayload, Transform
from ikel2tp.ike.suites import Phase1Suite, Phase2Suite

# -- registries: canonical names (suites.py) <-> wire values -----------------------------------
P1_CIPHERS: dict[int, str] = {
    Phase1Encryption.DES_CBC: "des-cbc",
    Phase1Encryption.TRIPLEDES_CBC: "3des-cbc",
    Phase1Encryption.AES_CBC: "aes-cbc",
}
P1_HASHES: dict[int, str] = {
    Phase1Hash.MD5: "md5",
    Phase1Hash.SHA: "sha1",
    Phase1Hash.SHA2_256: "sha256",
    Phase1Hash.SHA2_384: "sha384",
    Phase1Hash.SHA2_512: "sha512",
}
ESP_CIPHERS: dict[int, tuple[str, int]] = {  # transform ID -> (cipher, ICV bytes)
    EspTransform.ESP_DES: ("des-cbc", 0),
    EspTransform.ESP_3DES: ("3des-cbc", 0),
    EspTransform.ESP_AES: ("aes-cbc", 0),
    EspTransform.ESP_AES_GCM_16: ("aes-gcm", 16),
}
ESP_AUTH: dict[int, str] = {
    AuthAlgorithm.HMAC_MD5: "md5",
    AuthAlgorithm.HMAC_SHA: "sha1",
    AuthAlgorithm.HMAC_SHA2_256: "sha256",
    AuthAlgorithm.HMAC_SHA2_384: "sha384",
    AuthAlgorithm.HMAC_SHA2_512: "sha512",
}
FIXED_KEY_BITS = {"3des-cbc": 192, "des-cbc": 64}
TRANSPORT_MODES = {
    EncapsulationMode.TRANSPORT: False,
    EncapsulationMode.UDP_TRANSPORT_RFC: True,
    EncapsulationMode.UDP_TRANSPORT_DRAFT: True,
}
DEFAULT_LIFETIME = 28800  # RFC 2407 §4.5 / RFC 2409 App. A: 8 hours when no lifetime is given

_P1_NAMES = {v: k for k, v in P1_CIPHERS.items()}
_P1_HASH_IDS = {v: k for k, v in P1_HASHES.items()}
_ESP_IDS = {(v[0], v[1]): k for k, v in ESP_CIPHERS.items()}
_AUTH_IDS = {v: k for k, v in ESP_AUTH.items()}


@dataclass(frozen=True)
class Lifetime:
    seconds: int = 0
    kilobytes: int = 0


@dataclass(frozen=True)
class Phase1Offer:
    """One decoded phase 1 transform: the suite (None when unsupported) and why not."""

    transform: Transform
    suite: Phase1Suite | None
    auth_method: int
    lifetime: Lifetime
    problem: str = ""

    def label(self) -> str:
        if self.suite is None:
            return f"<{self.problem}>"
        auth = _auth_name(self.auth_method)
        return str(self.suite) if auth == "psk" else f"{self.suite}/{auth}"


@dataclass(frozen=True)
class Phase2Offer:
    """One decoded ESP transform with its proposal (for the SPI), mode and lifetime."""

    proposal: Proposal
    transform: Transform
    suite: Phase2Suite | None
    mode: int
    lifetime: Lifetime
    problem: str = ""

    @property
    def udp_encap(self) -> bool:
        return TRANSPORT_MODES.get(self.mode, False)  # type: ignore[call-overload]

    def label(self) -> str:
        if self.suite is None:
            return f"<{self.problem}>"
        if self.mode not in TRANSPORT_MODES:
            return f"{self.suite}/{_mode_name(self.mode)}"
        return str(self.suite)


@dataclass(frozen=True)
class Difference:
    attribute: str
    peer: str
    ours: str


@dataclass(frozen=True)
class NearestMiss:
    offered: str
    allowed: str
    differences: tuple[Difference, ...]


@dataclass(frozen=True)
class Refusal:
    """Why no proposal was chosen: data for tools, ``text`` for the log line."""

    phase: int
    offered: tuple[str, ...]
    allowed: tuple[str, ...]
    nearest: NearestMiss | None

    @property
    def text(self) -> str:
        head = f"phase {self.phase}: peer offers {', '.join(self.offered) or 'nothing usable'}; "
        head += f"we allow {', '.join(self.allowed) or 'nothing'}"
        if self.nearest is None:
            return head
        diffs = "; ".join(
            f"{d.attribute}: peer {d.peer}, we allow {d.ours}" for d in self.nearest.differences
        )
        return (
            f"{head}; nearest miss: peer's {self.nearest.offered} vs our {self.nearest.allowed} "
            f"differs in {diffs}"
        )

    def __str__(self) -> str:
        return self.text


def _auth_name(method: int) -> str:
    names = {AuthMethod.PRE_SHARED_KEY: "psk", AuthMethod.RSA_SIGNATURES: "rsasig"}
    return names.get(method, f"auth{method}")  # type: ignore[call-overload]


def _mode_name(mode: int) -> str:
    try:
        return EncapsulationMode(mode).name.lower()
    except ValueError:
        return f"mode{mode}"


def _attrs(t: Transform) -> dict[int, list[Attribute]]:
    out: dict[int, list[Attribute]] = {}
    for a in t.attributes:
        out.setdefault(a.type, []).append(a)
    return out


def parse_lifetime(pairs: Iterable[Attribute], type_attr: int, duration_attr: int) -> tuple[Lifetime, str]:
    """Life Type / Life Duration pairs (RFC 2407 §4.5: each duration follows its type)."""
    seconds = kilobytes = 0
    current = None
    for a in pairs:
        if a.type == type_attr:
            current = a.as_int()
        elif a.type == duration_attr:
            if current == LifeType.SECONDS:
                seconds = a.as_int()
            elif current == LifeType.KILOBYTES:
                kilobytes = a.as_int()
            else:
                return Lifetime(), "life duration without a known life type"
    return Lifetime(seconds, kilobytes), ""


# -- phase 1 ------------------------------------------------------------------------------------
_P1_KNOWN = {
    Phase1Attribute.ENCRYPTION_ALGORITHM,
    Phase1Attribute.HASH_ALGORITHM,
    Phase1Attribute.AUTHENTICATION_METHOD,
    Phase1Attribute.GROUP_DESCRIPTION,
    Phase1Attribute.LIFE_TYPE,
    Phase1Attribute.LIFE_DURATION,
    Phase1Attribute.KEY_LENGTH,
}


def decode_phase1(t: Transform) -> Phase1Offer:
    """RFC 2409 App. A attributes of one ISAKMP transform -> suite, auth method, lifetime."""
    attrs = _attrs(t)
    lifetime, problem = parse_lifetime(t.attributes, Phase1Attribute.LIFE_TYPE, Phase1Attribute.LIFE_DURATION)

    def one(attr: int) -> int | None:
        values = attrs.get(attr)
        return values[0].as_int() if values else None

    enc, hash_id, auth = (
        one(Phase1Attribute.ENCRYPTION_ALGORITHM),
        one(Phase1Attribute.HASH_ALGORITHM),
        one(Phase1Attribute.AUTHENTICATION_METHOD),
    )
    group, key_len = one(Phase1Attribute.GROUP_DESCRIPTION), one(Phase1Attribute.KEY_LENGTH)
    unknown = sorted(set(attrs) - _P1_KNOWN)
    if t.transform_id != KEY_IKE:
        problem = f"transform id {t.transform_id}"
    elif unknown:
        problem = f"unsupported attribute {unknown[0]}"
    elif enc not in P1_CIPHERS:
        problem = f"encryption algorithm {enc}"
    elif hash_id not in P1_HASHES:
        problem = f"hash algorithm {hash_id}"
    elif group not in suites.GROUP_NAMES:
        problem = f"DH group {group}"
    elif auth is None:
        problem = "no authentication method"
    if problem:
        return Phase1Offer(t, None, auth or 0, lifetime, problem)
    cipher = P1_CIPHERS[enc]  # type: ignore[index]
    bits = FIXED_KEY_BITS.get(cipher) or key_len or 0
    if cipher == "aes-cbc" and bits not in (128, 192, 256):
        return Phase1Offer(t, None, auth, lifetime, f"AES key length {key_len}")  # type: ignore[arg-type]
    return Phase1Offer(
        t,
        Phase1Suite(cipher, bits, P1_HASHES[hash_id], group),
        auth,  # type: ignore[arg-type,index]
        lifetime,
    )


def encode_phase1(suite: Phase1Suite, auth_method: int, lifetime_seconds: int, number: int = 1) -> Transform:
    attrs = [Attribute.of(Phase1Attribute.ENCRYPTION_ALGORITHM, _P1_NAMES[suite.cipher])]
    if suite.cipher == "aes-cbc":
        attrs.append(Attribute.of(Phase1Attribute.KEY_LENGTH, suite.key_bits))
    attrs += [
        Attribute.of(Phase1Attribute.HASH_ALGORITHM, _P1_HASH_IDS[suite.hash]),
        Attribute.of(Phase1Attribute.AUTHENTICATION_METHOD, auth_method),
        Attribute.of(Phase1Attribute.GROUP_DESCRIPTION, suite.group),
    ]
    if lifetime_seconds:
        attrs += [
            Attribute.of(Phase1Attribute.LIFE_TYPE, LifeType.SECONDS),
            Attribute.of(Phase1Attribute.LIFE_DURATION, lifetime_seconds),
        ]
    return Transform(number, KEY_IKE, tuple(attrs))


def phase1_sa(
    allowed: Iterable[Phase1Suite], auth_method: int | Iterable[int], lifetime_seconds: int
) -> SaPayload:
    """An initiator's SA payload: one ISAKMP proposal with one transform per (method, suite), in
    order of preference (methods first)."""
    methods = [auth_method] if isinstance(auth_method, int) else list(auth_method)
    pairs = [(m, s) for m in methods for s in allowed]
    transforms = tuple(encode_phase1(s, m, lifetime_seconds, i + 1) for i, (m, s) in enumerate(pairs))
    return SaPayload((Proposal(1, ProtocolId.ISAKMP, b"", transforms),))


@dataclass(frozen=True)
class Phase1Choice:
    proposal: Proposal
    offer: Phase1Offer

    def sa_payload(self) -> SaPayload:
        """The responder's SA: the chosen transform echoed unchanged (RFC 2409 §5)."""
        return SaPayload(
            (
                Proposal(
                    self.proposal.number, self.proposal.protocol, self.proposal.spi, (self.offer.transform,)
                ),
            )
        )


def select_phase1(
    sa: SaPayload, allowed: Iterable[Phase1Suite], auth_methods: Iterable[int]
) -> Phase1Choice | Refusal:
    allowed = tuple(allowed)
    methods = set(auth_methods)
    offers: list[Phase1Offer] = []
    for proposal in sa.proposals:
        if proposal.protocol != ProtocolId.ISAKMP:
            continue
        for t in proposal.transforms:
            offer = decode_phase1(t)
            offers.append(offer)
            if offer.suite in allowed and offer.auth_method in methods:
                return Phase1Choice(proposal, offer)
    pairs = [(s, m) for s in allowed for m in sorted(methods)]
    return _refusal(
        1,
        offers,
        pairs,
        _p1_diff,
        lambda a: str(a[0]) if a[1] == AuthMethod.PRE_SHARED_KEY else f"{a[0]}/{_auth_name(a[1])}",
    )


def _p1_diff(offer: Phase1Offer, ours: tuple[Phase1Suite, int]) -> list[Difference]:
    s, method = ours
    o = offer.suite
    assert o is not None
    diffs = []
    if (o.cipher, o.key_bits) != (s.cipher, s.key_bits):
        diffs.append(
            Difference(
                "cipher",
                suites.cipher_token(o.cipher, o.key_bits, 0),
                suites.cipher_token(s.cipher, s.key_bits, 0),
            )
        )
    if o.hash != s.hash:
        diffs.append(Difference("hash", o.hash, s.hash))
    if o.group != s.group:
        diffs.append(Difference("DH group", suites.GROUP_NAMES[o.group], suites.GROUP_NAMES[s.group]))
    if offer.auth_method != method:
        diffs.append(Difference("authentication", _auth_name(offer.auth_method), _auth_name(method)))
    return diffs


# -- phase 2 ------------------------------------------------------------------------------------
_P2_KNOWN = {
    Phase2Attribute.SA_LIFE_TYPE,
    Phase2Attribute.SA_LIFE_DURATION,
    Phase2Attribute.GROUP_DESCRIPTION,
    Phase2Attribute.ENCAPSULATION_MODE,
    Phase2Attribute.AUTHENTICATION_ALGORITHM,
    Phase2Attribute.KEY_LENGTH,
}


def decode_phase2(proposal: Proposal, t: Transform) -> Phase2Offer:
    """RFC 2407 §4.5 attributes of one ESP transform -> suite, encapsulation mode, lifetime."""
    attrs = _attrs(t)
    lifetime, problem = parse_lifetime(
        t.attributes, Phase2Attribute.SA_LIFE_TYPE, Phase2Attribute.SA_LIFE_DURATION
    )

    def one(attr: int) -> int | None:
        values = attrs.get(attr)
        return values[0].as_int() if values else None

    mode = one(Phase2Attribute.ENCAPSULATION_MODE) or EncapsulationMode.TUNNEL  # RFC 2407 §4.5 default
    auth, key_len, group = (
        one(Phase2Attribute.AUTHENTICATION_ALGORITHM),
        one(Phase2Attribute.KEY_LENGTH),
        one(Phase2Attribute.GROUP_DESCRIPTION),
    )
    unknown = sorted(set(attrs) - _P2_KNOWN)
    cipher_icv = ESP_CIPHERS.get(t.transform_id)  # type: ignore[call-overload]
    if proposal.protocol != ProtocolId.IPSEC_ESP:
        problem = f"protocol {proposal.protocol} (only ESP)"
    elif len(proposal.spi) != 4:
        problem = f"SPI of {len(proposal.spi)} bytes"
    elif unknown:
        problem = f"unsupported attribute {unknown[0]}"
    elif cipher_icv is None:
        problem = f"ESP transform {t.transform_id}"
    elif group is not None and group not in suites.GROUP_NAMES:
        problem = f"PFS group {group}"
    elif auth is not None and auth not in ESP_AUTH:
        problem = f"authentication algorithm {auth}"
    if problem:
        return Phase2Offer(proposal, t, None, mode, lifetime, problem)
    cipher, icv = cipher_icv  # type: ignore[misc]
    bits = FIXED_KEY_BITS.get(cipher) or key_len or (128 if cipher in ("aes-cbc", "aes-gcm") else 0)
    if cipher in ("aes-cbc", "aes-gcm") and bits not in (128, 192, 256):
        return Phase2Offer(proposal, t, None, mode, lifetime, f"AES key length {key_len}")
    integrity = ESP_AUTH[auth] if auth is not None else None  # type: ignore[index]
    if (cipher in suites.AEAD) != (integrity is None):
        return Phase2Offer(
            proposal, t, None, mode, lifetime, "AEAD with integrity" if integrity else "CBC without integrity"
        )
    return Phase2Offer(proposal, t, Phase2Suite(cipher, bits, integrity, group, icv), mode, lifetime)


def encode_phase2(suite: Phase2Suite, mode: int, lifetime: Lifetime, number: int = 1) -> Transform:
    attrs = [Attribute.of(Phase2Attribute.ENCAPSULATION_MODE, mode)]
    if suite.cipher in ("aes-cbc", "aes-gcm"):
        attrs.append(Attribute.of(Phase2Attribute.KEY_LENGTH, suite.key_bits))
    if suite.integrity:
        attrs.append(Attribute.of(Phase2Attribute.AUTHENTICATION_ALGORITHM, _AUTH_IDS[suite.integrity]))
    if suite.pfs_group is not None:
        attrs.append(Attribute.of(Phase2Attribute.GROUP_DESCRIPTION, suite.pfs_group))
    if lifetime.seconds:
        attrs += [
            Attribute.of(Phase2Attribute.SA_LIFE_TYPE, LifeType.SECONDS),
            Attribute.of(Phase2Attribute.SA_LIFE_DURATION, lifetime.seconds),
        ]
    if lifetime.kilobytes:
        attrs += [
            Attribute.of(Phase2Attribute.SA_LIFE_TYPE, LifeType.KILOBYTES),
            Attribute.of(Phase2Attribute.SA_LIFE_DURATION, lifetime.kilobytes),
        ]
    return Transform(number, _ESP_IDS[(suite.cipher, suite.icv_bytes)], tuple(attrs))


def phase2_sa(allowed: Iterable[Phase2Suite], spi: int, mode: int, lifetime: Lifetime) -> SaPayload:
    """An initiator's SA: one ESP proposal per suite (as strongSwan and Windows send)."""
    spi_b = spi.to_bytes(4, "big")
    return SaPayload(
        tuple(
            Proposal(i + 1, ProtocolId.IPSEC_ESP, spi_b, (encode_phase2(s, mode, lifetime),))
            for i, s in enumerate(allowed)
        )
    )


def _p2_matches(offer: Phase2Offer, ours: Phase2Suite) -> bool:
    o = offer.suite
    if o is None or offer.mode not in TRANSPORT_MODES:
        return False
    if (o.cipher, o.key_bits, o.integrity, o.icv_bytes) != (
        ours.cipher,
        ours.key_bits,
        ours.integrity,
        ours.icv_bytes,
    ):
        return False
    return _pfs_ok(o.pfs_group, ours.pfs_group)


def _pfs_ok(peer: int | None, ours: int | None) -> bool:
    """A suite without a PFS group accepts the peer's PFS group if that group is not weak."""
    if ours is None:
        return peer is None or suites.GROUP_NAMES[peer] not in suites.WEAK
    return peer == ours


@dataclass(frozen=True)
class Phase2Choice:
    offer: Phase2Offer
    lifetime: Lifetime  # what we apply (the peer's, capped at ours)
    capped: bool  # whether we lowered the peer's lifetime (send RESPONDER-LIFETIME)

    @property
    def peer_spi(self) -> int:
        return int.from_bytes(self.offer.proposal.spi, "big")

    def sa_payload(self, our_spi: int) -> SaPayload:
        """The responder's SA: chosen transform echoed with our SPI (RFC 2409 §5.5)."""
        p = self.offer.proposal
        spi = our_spi.to_bytes(4, "big")
        return SaPayload((Proposal(p.number, p.protocol, spi, (self.offer.transform,)),))


def expiry_delay(seconds: int) -> float:
    """When we delete an SA of ``seconds`` lifetime ourselves.  The initiator rekeys shortly before
    the lifetime runs out and then deletes the old SA; a grace of 10 % (at most a minute) keeps our
    expiry from racing that rekey, so a client that rekeys never sees its SA vanish first."""
    return seconds + min(60.0, seconds * 0.1)


def cap_lifetime(peer: Lifetime, ours: Lifetime) -> tuple[Lifetime, bool]:
    """Accept the peer's lifetimes, capped at ours (RFC 2407 §4.5.4 RESPONDER-LIFETIME when capped)."""
    seconds = peer.seconds or DEFAULT_LIFETIME
    capped = False
    if ours.seconds and seconds > ours.seconds:
        seconds, capped = ours.seconds, True
    kilobytes = peer.kilobytes
    if ours.kilobytes and (kilobytes == 0 or kilobytes > ours.kilobytes):
        kilobytes, capped = ours.kilobytes, True
    return Lifetime(seconds, kilobytes), capped


def select_phase2(sa: SaPayload, allowed: Iterable[Phase2Suite], ours: Lifetime) -> Phase2Choice | Refusal:
    allowed = tuple(allowed)
    numbers = [p.number for p in sa.proposals]
    offers: list[Phase2Offer] = []
    for proposal in sa.proposals:
        bundle = numbers.count(proposal.number) > 1  # RFC 2408 §4.2: same number = AND (e.g. AH+ESP)
        for t in proposal.transforms:
            offer = decode_phase2(proposal, t)
            if bundle and offer.suite is not None:
                offer = Phase2Offer(proposal, t, None, offer.mode, offer.lifetime, "AH/ESP bundle")
            offers.append(offer)
            for suite in allowed:
                if _p2_matches(offer, suite):
                    lifetime, capped = cap_lifetime(offer.lifetime, ours)
                    return Phase2Choice(offer, lifetime, capped)
    return _refusal(2, offers, list(allowed), _p2_diff, str)


def _p2_diff(offer: Phase2Offer, s: Phase2Suite) -> list[Difference]:
    o = offer.suite
    assert o is not None
    diffs = []
    if (o.cipher, o.key_bits, o.icv_bytes) != (s.cipher, s.key_bits, s.icv_bytes):
        diffs.append(
            Difference(
                "cipher",
                suites.cipher_token(o.cipher, o.key_bits, o.icv_bytes),
                suites.cipher_token(s.cipher, s.key_bits, s.icv_bytes),
            )
        )
    if o.integrity != s.integrity:
        diffs.append(Difference("integrity", o.integrity or "none", s.integrity or "none"))
    if not _pfs_ok(o.pfs_group, s.pfs_group):
        diffs.append(
            Difference(
                "PFS group",
                suites.GROUP_NAMES.get(o.pfs_group, "none"),  # type: ignore[arg-type]
                suites.GROUP_NAMES.get(s.pfs_group, "none"),
            )
        )  # type: ignore[arg-type]
    if offer.mode not in TRANSPORT_MODES:
        diffs.append(Difference("encapsulation mode", _mode_name(offer.mode), "transport"))
    return diffs


def _refusal(phase: int, offers: list, allowed: list, diff, allowed_label) -> Refusal:
    best: tuple[int, NearestMiss] | None = None
    for offer in offers:
        if offer.suite is None:
            continue
        for ours in allowed:
            diffs = diff(offer, ours)
            if diffs and (best is None or len(diffs) < best[0]):
                best = (len(diffs), NearestMiss(offer.label(), allowed_label(ours), tuple(diffs)))
    labels = tuple(dict.fromkeys(o.label() for o in offers))
    return Refusal(
        phase, labels, tuple(dict.fromkeys(allowed_label(a) for a in allowed)), best[1] if best else None
    )
