"""strongSwan-style proposal strings (``"aes256-sha1-modp2048"``, ``"aes128-sha1"``) and the
canonical algorithm names every layer shares.

This module is the single vocabulary for configuration, the IKE proposal engine, the ESP
data planes and the proposal explanations.  It knows names, key sizes and which algorithms
are weak; wire identifiers and callables live in the IKE and ESP registries keyed by these
names.
"""

from __future__ import annotations

from dataclasses import dataclass

# Encryption: name -> (canonical cipher, key bits, AEAD ICV bytes or 0)
ENCRYPTION: dict[str, tuple[str, int, int]] = {
    "aes128": ("aes-cbc", 128, 0),
    "aes192": ("aes-cbc", 192, 0),
    "aes256": ("aes-cbc", 256, 0),
    "aes": ("aes-cbc", 128, 0),
    "3des": ("3des-cbc", 192, 0),
    "des": ("des-cbc", 64, 0),
    "aes128gcm16": ("aes-gcm", 128, 16),
    "aes192gcm16": ("aes-gcm", 192, 16),
    "aes256gcm16": ("aes-gcm", 256, 16),
}
# AEAD ciphers are ESP only (IKEv1 phase 1 has no AEAD).
AEAD = {"aes-gcm"}

# Hash / integrity: name -> canonical hash name (hashlib/cryptography naming)
HASHES: dict[str, str] = {
    "md5": "md5",
    "sha1": "sha1",
    "sha": "sha1",
    "sha256": "sha256",
    "sha2_256": "sha256",
    "sha384": "sha384",
    "sha2_384": "sha384",
    "sha512": "sha512",
    "sha2_512": "sha512",
}

# Diffie-Hellman groups: name -> IANA group number (RFC 2409, 3526, 5903)
DH_GROUPS: dict[str, int] = {
    "modp768": 1,
    "modp1024": 2,
    "modp1536": 5,
    "modp2048": 14,
    "modp3072": 15,
    "modp4096": 16,
    "ecp256": 19,
    "ecp384": 20,
}
GROUP_NAMES: dict[int, str] = {number: name for name, number in DH_GROUPS.items()}

# Allowed only when a configuration lists them explicitly (secure defaults).
WEAK = {"md5", "des-cbc", "modp768"}


@dataclass(frozen=True)
class Phase1Suite:
    """One IKE (phase 1) proposal: cipher, key size, hash (also the PRF in IKEv1), DH group."""

    cipher: str
    key_bits: int
    hash: str
    group: int

    def __str__(self) -> str:
        return f"{_cipher_token(self.cipher, self.key_bits, 0)}-{self.hash}-{GROUP_NAMES[self.group]}"


@dataclass(frozen=True)
class Phase2Suite:
    """One ESP (phase 2) proposal: cipher, key size, integrity (None for AEAD), PFS group or None."""

    cipher: str
    key_bits: int
    integrity: str | None
    pfs_group: int | None = None
    icv_bytes: int = 0

    def __str__(self) -> str:
        parts = [_cipher_token(self.cipher, self.key_bits, self.icv_bytes)]
        if self.integrity:
            parts.append(self.integrity)
        if self.pfs_group is not None:
            parts.append(GROUP_NAMES[self.pfs_group])
        return "-".join(parts)


def _cipher_token(cipher: str, key_bits: int, icv: int) -> str:
    if cipher == "3des-cbc":
        return "3des"
    if cipher == "des-cbc":
        return "des"
    if cipher == "aes-gcm":
        return f"aes{key_bits}gcm{icv}"
    return f"aes{key_bits}"


def cipher_token(cipher: str, key_bits: int, icv: int = 0) -> str:
    """The proposal-string token of a cipher: ``"aes256"``, ``"3des"``, ``"aes128gcm16"``."""
    return _cipher_token(cipher, key_bits, icv)


def _allowed(table: dict) -> str:
    return ", ".join(sorted(table))


def parse_phase1(text: str) -> Phase1Suite:
    """Parse ``"aes256-sha1-modp2048"``; raise ValueError naming what is allowed."""
    tokens = text.strip().lower().split("-")
    if len(tokens) != 3:
        raise ValueError(f"{text!r}: expected cipher-hash-dhgroup such as 'aes256-sha1-modp2048'")
    cipher, hash_, group = tokens
    if cipher not in ENCRYPTION:
        raise ValueError(f"{text!r}: unknown cipher {cipher!r} (allowed: {_allowed(ENCRYPTION)})")
    name, bits, icv = ENCRYPTION[cipher]
    if name in AEAD:
        raise ValueError(f"{text!r}: {cipher!r} is an ESP-only AEAD cipher; IKEv1 phase 1 needs a CBC cipher")
    if hash_ not in HASHES:
        raise ValueError(f"{text!r}: unknown hash {hash_!r} (allowed: {_allowed(HASHES)})")
    if group not in DH_GROUPS:
        raise ValueError(f"{text!r}: unknown DH group {group!r} (allowed: {_allowed(DH_GROUPS)})")
    return Phase1Suite(name, bits, HASHES[hash_], DH_GROUPS[group])


def parse_phase2(text: str) -> Phase2Suite:
    """Parse ``"aes128-sha1"``, ``"aes256gcm16"`` or ``"aes128-sha256-modp2048"`` (PFS group)."""
    tokens = text.strip().lower().split("-")
    if not tokens or tokens[0] not in ENCRYPTION:
        raise ValueError(f"{text!r}: unknown cipher {tokens[0] if tokens else ''!r} "
                         f"(allowed: {_allowed(ENCRYPTION)})")
    name, bits, icv = ENCRYPTION[tokens[0]]
    rest = tokens[1:]
    integrity = None
    if rest and rest[0] in HASHES:
        integrity = HASHES[rest.pop(0)]
    pfs = None
    if rest and rest[0] in DH_GROUPS:
        pfs = DH_GROUPS[rest.pop(0)]
    if rest:
        raise ValueError(f"{text!r}: unexpected {rest[0]!r} (integrity: {_allowed(HASHES)}; "
                         f"PFS group: {_allowed(DH_GROUPS)})")
    if name in AEAD and integrity is not None:
        raise ValueError(f"{text!r}: AEAD cipher {tokens[0]!r} takes no separate integrity algorithm")
    if name not in AEAD and integrity is None:
        raise ValueError(f"{text!r}: a CBC cipher needs an integrity algorithm such as 'sha1'")
    return Phase2Suite(name, bits, integrity, pfs, icv)


def weak_parts(suite: Phase1Suite | Phase2Suite) -> list[str]:
    """Names of the weak algorithms a suite uses (MD5, DES, modp768)."""
    found = []
    if suite.cipher in WEAK:
        found.append(suite.cipher)
    digest = suite.hash if isinstance(suite, Phase1Suite) else suite.integrity
    if digest in WEAK:
        found.append(digest)
    group = suite.group if isinstance(suite, Phase1Suite) else suite.pfs_group
    if group is not None and GROUP_NAMES[group] in WEAK:
        found.append(GROUP_NAMES[group])
    return found


# What Windows 10/11, macOS/iOS and Android <= 11 offer (../shared/CLIENT-FACTS.md), strongest first.
# MODP1024 is listed explicitly because Android (racoon) and legacy Windows offer nothing else.
DEFAULT_PHASE1 = (
    "aes256-sha1-ecp384",
    "aes128-sha1-ecp256",
    "aes256-sha256-modp2048",
    "aes256-sha1-modp2048",
    "aes128-sha1-modp2048",
    "3des-sha1-modp2048",
    "aes256-sha256-modp1024",
    "aes256-sha1-modp1024",
    "aes128-sha1-modp1024",
    "3des-sha1-modp1024",
)
DEFAULT_PHASE2 = (
    "aes256-sha1",
    "aes128-sha1",
    "aes256-sha256",
    "aes128-sha256",
    "aes256gcm16",
    "aes128gcm16",
    "3des-sha1",
)
