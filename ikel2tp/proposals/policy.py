"""Our effective policy: what ``[ike]``, ``[server]`` and ``[ppp]`` allow, and how to show it.

``show`` prints it twice: as the strongSwan-style strings of the configuration file and as the
attribute table a Cisco or Windows administrator knows (Encryption, Key length, Hash, DH group,
Auth method, Lifetime, Mode, PFS).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ikel2tp.config import Config
from ikel2tp.ike.constants import AuthMethod
from ikel2tp.ike.suites import GROUP_NAMES, Phase1Suite, Phase2Suite

_WILDCARDS = {ipaddress.ip_address("0.0.0.0"), ipaddress.ip_address("::")}


@dataclass(frozen=True)
class Policy:
    """What the responder accepts, in the engine's terms."""

    phase1: tuple[Phase1Suite, ...]
    phase2: tuple[Phase2Suite, ...]
    auth_methods: tuple[int, ...]
    phase1_lifetime: int
    phase2_lifetime: int
    served: tuple[str, ...]  # addresses clients may name in their phase 2 IDs ("" = any we own)
    ppp_auth: tuple[str, ...]
    cert: str | None
    source: str

    @staticmethod
    def from_config(config: Config) -> Policy:
        ike = config.ike
        methods = []
        if ike.psk or ike.peers:
            methods.append(AuthMethod.PRE_SHARED_KEY)
        if ike.cert:
            methods.append(AuthMethod.RSA_SIGNATURES)
        served = [a for a in config.server.listen if ipaddress.ip_address(a) not in _WILDCARDS]
        if config.server.public_address:
            served.append(config.server.public_address)
        return Policy(
            tuple(ike.phase1),
            tuple(ike.phase2),
            tuple(methods),
            ike.ike_lifetime,
            ike.ipsec_lifetime,
            tuple(dict.fromkeys(served)),
            tuple(config.ppp.auth),
            ike.cert,
            config.source,
        )


# -- attribute names as vendors print them --------------------------------------------------------
_CIPHERS = {"aes-cbc": "AES-CBC", "3des-cbc": "3DES-CBC", "des-cbc": "DES-CBC", "aes-gcm": "AES-GCM-16"}
_HASHES = {"md5": "MD5", "sha1": "SHA1", "sha256": "SHA2-256", "sha384": "SHA2-384", "sha512": "SHA2-512"}
_HMACS = {
    "md5": "HMAC-MD5-96",
    "sha1": "HMAC-SHA1-96",
    "sha256": "HMAC-SHA2-256-128",
    "sha384": "HMAC-SHA2-384-192",
    "sha512": "HMAC-SHA2-512-256",
}
_AUTH = {AuthMethod.PRE_SHARED_KEY: "Pre-shared key", AuthMethod.RSA_SIGNATURES: "RSA signature"}


def group_text(group: int | None) -> str:
    """``"14 (MODP 2048)"``, ``"20 (ECP 384)"``, ``"none"``."""
    if group is None:
        return "none"
    name = GROUP_NAMES.get(group)
    if name is None:
        return str(group)
    kind = name.rstrip("0123456789")
    return f"{group} ({kind.upper()} {name[len(kind) :]})"


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return out


def show_lines(policy: Policy) -> list[str]:
    """``ikel2tp proposals show``: strings, then the attribute tables."""
    auth = ", ".join(_AUTH.get(m, str(m)) for m in policy.auth_methods) or "none configured"
    out = [f"policy from {policy.source}", "", "[ike] phase1 (IKE / ISAKMP SA, Main Mode):"]
    out += [f'  "{s}"' for s in policy.phase1]
    out += ["[ike] phase2 (IPsec SA, ESP, Quick Mode):"]
    out += [f'  "{s}"' for s in policy.phase2]
    out += ["", "Phase 1 (IKE policy)"]
    rows = [
        [
            str(i),
            _CIPHERS.get(s.cipher, s.cipher),
            str(s.key_bits),
            _HASHES.get(s.hash, s.hash),
            group_text(s.group),
            auth,
            f"{policy.phase1_lifetime} s",
            "Main Mode",
        ]
        for i, s in enumerate(policy.phase1, 1)
    ]
    out += _table(
        ["#", "Encryption", "Key length", "Hash/PRF", "DH group", "Auth method", "Lifetime", "Mode"], rows
    )
    out += ["", "Phase 2 (IPsec transform set)"]
    rows = [
        [
            str(i),
            f"ESP {_CIPHERS.get(s.cipher, s.cipher)}",
            str(s.key_bits),
            _HMACS.get(s.integrity, "(AEAD)") if s.integrity else "(AEAD)",
            "no" if s.pfs_group is None else f"group {group_text(s.pfs_group)}",
            f"{policy.phase2_lifetime} s",
            "transport (UDP-encapsulated behind NAT)",
        ]
        for i, s in enumerate(policy.phase2, 1)
    ]
    out += _table(["#", "Encryption", "Key length", "Integrity", "PFS", "Lifetime", "Encapsulation"], rows)
    out += [
        "",
        "PFS: a transform without a group also accepts a client's non-weak PFS group.",
        f"PPP authentication: {', '.join(policy.ppp_auth)}",
    ]
    return out
