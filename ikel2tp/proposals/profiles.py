"""What real L2TP/IPsec clients offer, as data (``ikel2tp proposals check --client NAME``).

Each profile lists its phase 1 and phase 2 suites in the client's own order (strongSwan-style
strings, :mod:`ikel2tp.ike.suites`), cites where the list comes from and marks what no source
confirmed as UNVERIFIED (facts from /work/shared/CLIENT-FACTS.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from ikel2tp.ike.constants import AuthMethod, EncapsulationMode
from ikel2tp.ike.suites import Phase1Suite, Phase2Suite, parse_phase1, parse_phase2


@dataclass(frozen=True)
class ClientProfile:
    """One client's offer: suites in its order, auth method, encapsulation mode, sources."""

    name: str
    title: str
    phase1: tuple[str, ...]
    phase2: tuple[str, ...]
    sources: tuple[str, ...]
    unverified: tuple[str, ...] = ()
    auth_method: int = AuthMethod.PRE_SHARED_KEY
    mode: int = EncapsulationMode.TRANSPORT

    @property
    def phase1_suites(self) -> tuple[Phase1Suite, ...]:
        return tuple(parse_phase1(s) for s in self.phase1)

    @property
    def phase2_suites(self) -> tuple[Phase2Suite, ...]:
        return tuple(parse_phase2(s) for s in self.phase2)


_ANDROID_P1 = tuple(f"{c}-{h}-modp1024" for c in ("aes256", "aes128", "3des") for h in ("sha1", "md5"))

PROFILES: dict[str, ClientProfile] = {
    p.name: p
    for p in (
        ClientProfile(
            "windows",
            "Windows 10/11 built-in L2TP/IPsec client",
            (
                "aes256-sha1-ecp384",
                "aes128-sha1-ecp256",
                "aes256-sha1-modp2048",
                "3des-sha1-modp2048",
                "3des-sha1-modp1024",
            ),
            ("aes256-sha1", "aes128-sha1", "3des-sha1"),
            (
                "libreswan/libreswan#427 (Win10 IKE SA AES_CBC_256/HMAC_SHA1/DH20 with Libreswan)",
                "SoftEtherVPN/SoftEtherVPN#1253 (without ECP Win10 chose MODP2048/SHA1/AES-256, 28800 s)",
                "nm-l2tp/NetworkManager-l2tp README (union of Win10 and iOS proposals)",
                "hwdsl2/setup-ipsec-vpn (pfs=no works with Windows)",
            ),
            ("exact phase 1 order", "exact phase 2 list"),
        ),
        ClientProfile(
            "windows-legacy",
            "Windows 7/8 built-in L2TP/IPsec client",
            ("3des-sha1-modp1024", "aes256-sha1-modp1024", "aes128-sha1-modp1024", "3des-md5-modp1024"),
            ("3des-sha1", "aes128-sha1", "3des-md5"),
            (
                "MS KB 325158 (default encryption settings for the L2TP/IPsec VPN client: 3DES, SHA1, "
                "DH group 2, transport mode, ESP only)",
            ),
            ("the AES entries and their order", "phase 2 AES-128"),
        ),
        ClientProfile(
            "macos-ios",
            "macOS / iOS L2TP over IPsec",
            (
                "aes256-sha256-modp2048",
                "aes256-sha1-modp2048",
                "aes256-sha256-modp1536",
                "aes256-sha1-modp1536",
                "aes256-sha256-modp1024",
                "aes256-sha1-modp1024",
                "aes128-sha1-modp1024",
                "3des-sha1-modp1024",
            ),
            ("aes256-sha1", "aes128-sha1", "3des-sha1", "aes128-md5", "3des-md5"),
            (
                "evokelektrique/tunnel-forge#13 (macOS offers 14 phase 1 transforms incl. 3DES/SHA1/"
                "MODP1024; phase 2 AES-128/HMAC-SHA1 transport; RFC 3947 NAT-T)",
                "nm-l2tp/NetworkManager-l2tp README (aes256-sha256/sha1 with modp2048/1536/1024)",
                "Apple's open-source ppp project (ESP {AES, 3DES} x {SHA1, MD5}, transport, UDP/1701)",
            ),
            ("the full list of 14 phase 1 transforms and their order",),
        ),
        ClientProfile(
            "android",
            "Android up to 11 (racoon), L2TP/IPSec PSK",
            _ANDROID_P1,
            ("aes256-sha1", "aes128-sha1", "3des-sha1", "aes256-md5", "aes128-md5", "3des-md5"),
            (
                "hwdsl2/setup-ipsec-vpn#101 (all modp1024: AES256/SHA1, AES256/MD5, AES128/SHA1, "
                "AES128/MD5, 3DES/SHA1, 3DES/MD5)",
                "hwdsl2/setup-ipsec-vpn docs/clients.md ('Android uses modp1024'; Android 12+ IKEv2 only)",
            ),
            ("phase 2 list",),
        ),
        ClientProfile(
            "strongswan-default",
            "strongSwan IKEv1 default proposal (ike=/esp= not set)",
            (
                "aes128-sha256-modp3072",
                "aes128-sha1-modp3072",
                "aes256-sha256-modp3072",
                "aes128-sha256-modp2048",
                "aes128-sha1-modp2048",
            ),
            ("aes128-sha256", "aes128-sha1"),
            ("strongSwan's default IKE/ESP proposals (aes128-sha256-modp3072 family, esp aes128-sha256)",),
            ("the exact default list differs between strongSwan releases",),
        ),
        ClientProfile(
            "libreswan-default",
            "Libreswan IKEv1 defaults (ike=/esp= not set)",
            (
                "aes256-sha256-modp2048",
                "aes128-sha256-modp2048",
                "aes256-sha1-modp2048",
                "aes128-sha1-modp2048",
            ),
            ("aes256-sha1", "aes128-sha1", "aes256-sha256", "aes128-sha256"),
            (
                "Libreswan's defaults (modp1024 dropped: libreswan/libreswan#1475, "
                "hwdsl2/setup-ipsec-vpn#1329)",
            ),
            ("exact order",),
        ),
    )
}


def custom(ike: list[str] | tuple[str, ...], esp: list[str] | tuple[str, ...]) -> ClientProfile:
    """A profile from command-line strings; raises ValueError naming a bad suite."""
    profile = ClientProfile(
        "custom", "custom offer from the command line", tuple(ike), tuple(esp), ("--ike/--esp",)
    )
    _ = profile.phase1_suites, profile.phase2_suites
    return profile


def profile(name: str) -> ClientProfile:
    """A built-in profile by name; KeyError lists the names."""
    try:
        return PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown client {name!r} (built in: {', '.join(PROFILES)}, custom)") from None
