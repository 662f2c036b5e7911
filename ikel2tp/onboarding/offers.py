"""What each built-in client offers in IKEv1, and which proposal strings a Linux profile can carry.

Windows, macOS/iOS and Android cannot be told which proposals to send over L2TP/IPsec (Windows only
through ``Set-VpnConnectionIPsecConfiguration``), so their profiles are checked against the server's
policy here and the user is warned when the client cannot connect.  The offers come from
../shared/CLIENT-FACTS.md (as in suites.py); a list no capture confirmed says so in ``source``.

The Linux profile (NetworkManager-l2tp) is the opposite case: it sends exactly what we write, so its
``ipsec-ike``/``ipsec-esp`` strings are the configured suites themselves, kept in the server's order of
preference and limited to what the client's IPsec daemon can express.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ikel2tp.config import Config
from ikel2tp.ike import suites
from ikel2tp.ike.suites import Phase1Suite, Phase2Suite


@dataclass(frozen=True)
class ClientOffer:
    """A client's phase 1 and phase 2 proposals, in its order; ``source`` says how sure we are."""

    client: str
    phase1: tuple[Phase1Suite, ...]
    phase2: tuple[Phase2Suite, ...]
    source: str


def _offer(client: str, phase1: Sequence[str], phase2: Sequence[str], source: str) -> ClientOffer:
    return ClientOffer(client, tuple(map(suites.parse_phase1, phase1)),
                       tuple(map(suites.parse_phase2, phase2)), source)


WINDOWS = _offer(
    "Windows 10/11",
    ("aes256-sha1-ecp384", "aes128-sha1-ecp256", "aes256-sha1-modp2048", "aes128-sha1-modp2048",
     "3des-sha1-modp2048", "3des-sha1-modp1024"),
    ("aes256-sha1", "aes128-sha1", "3des-sha1"),
    "observed Windows 10 SAs (libreswan#427, SoftEther#1253), MS KB 325158 and the Windows part of "
    "NetworkManager-l2tp's merged list; the exact order is unverified")
APPLE = _offer(
    "macOS/iOS",
    ("aes256-sha256-modp2048", "aes256-sha256-modp1536", "aes256-sha256-modp1024", "aes256-sha1-modp2048",
     "aes256-sha1-modp1536", "aes256-sha1-modp1024", "aes128-sha1-modp1024", "3des-sha1-modp1024"),
    ("aes256-sha1", "aes128-sha1", "3des-sha1", "aes256-md5", "aes128-md5", "3des-md5"),
    "NetworkManager-l2tp's Windows+iOS list without the ECP suites Windows was seen to use, and Apple's "
    "ppp project (ESP AES/3DES with SHA1/MD5); unverified")
ANDROID = _offer(
    "Android <= 11 (racoon)",
    ("aes256-sha1-modp1024", "aes256-md5-modp1024", "aes128-sha1-modp1024", "aes128-md5-modp1024",
     "3des-sha1-modp1024", "3des-md5-modp1024"),
    ("aes256-sha1", "aes128-sha1", "3des-sha1", "aes256-md5", "aes128-md5", "3des-md5"),
    "hwdsl2/setup-ipsec-vpn#101 (phase 1, all MODP1024); phase 2 list unverified")


def accepted_phase1(offer: Iterable[Phase1Suite], policy: Iterable[Phase1Suite]) -> list[Phase1Suite]:
    """The client's suites our policy allows, in the client's order (the responder takes the first)."""
    allowed = set(policy)
    return [suite for suite in offer if suite in allowed]


def accepted_phase2(offer: Iterable[Phase2Suite], policy: Iterable[Phase2Suite]) -> list[Phase2Suite]:
    """The same for ESP.  Built-in clients propose no PFS for L2TP, and our suites without a PFS group
    accept that, so cipher, key size, integrity and PFS group must all be equal."""
    allowed = set(policy)
    return [suite for suite in offer if suite in allowed]


def phase1_problem(offer: ClientOffer, config: Config) -> str | None:
    """Why the client cannot pass phase 1 against [ike] phase1, or None when it can."""
    if accepted_phase1(offer.phase1, config.ike.phase1):
        return None
    return (f"{offer.client} offers phase 1 {_names(offer.phase1)}, but [ike] phase1 allows only "
            f"{_names(config.ike.phase1)}: it cannot connect. Add one of its suites to [ike] phase1")


def phase2_problem(offer: ClientOffer, config: Config) -> str | None:
    """Why the client cannot pass phase 2 against [ike] phase2, or None when it can."""
    if accepted_phase2(offer.phase2, config.ike.phase2):
        return None
    return (f"{offer.client} offers phase 2 {_names(offer.phase2)}, but [ike] phase2 allows only "
            f"{_names(config.ike.phase2)}: it cannot connect. Add one of its suites to [ike] phase2")


def check_offer(offer: ClientOffer, config: Config) -> list[str]:
    """Warnings (empty when fine): the client's offer and the server policy have nothing in common."""
    return [p for p in (phase1_problem(offer, config), phase2_problem(offer, config)) if p]


def _names(items: Iterable[object]) -> str:
    return ", ".join(map(str, items))


# -- Linux: NetworkManager-l2tp with strongSwan or libreswan -----------------------------------------
IPSEC_DAEMONS = ("strongswan", "libreswan")
# libreswan >= 3.30 is built without DH2 (modp1024) and has no modp768 or single DES; its IKEv1 GCM
# names differ from strongSwan's, so AEAD suites are left to strongSwan clients.
_LIBRESWAN_MISSING_GROUPS = {suites.DH_GROUPS["modp768"], suites.DH_GROUPS["modp1024"]}
_LIBRESWAN_HASH_NAMES = {"sha256": "sha2_256", "sha384": "sha2_384", "sha512": "sha2_512"}


def _libreswan_ok(suite: Phase1Suite | Phase2Suite) -> bool:
    group = suite.group if isinstance(suite, Phase1Suite) else suite.pfs_group
    return (suite.cipher != "des-cbc" and suite.cipher not in suites.AEAD
            and group not in _LIBRESWAN_MISSING_GROUPS)


def _libreswan_name(suite: Phase1Suite | Phase2Suite) -> str:
    """libreswan spells SHA-2 as ``sha2_256`` (strongSwan takes both); the rest is the same."""
    return "-".join(_LIBRESWAN_HASH_NAMES.get(token, token) for token in str(suite).split("-"))


def linux_suites(config: Config, daemon: str = "strongswan") -> tuple[list[Phase1Suite], list[Phase2Suite]]:
    """The configured suites a NetworkManager-l2tp client with ``daemon`` can propose, in our order."""
    if daemon not in IPSEC_DAEMONS:
        raise ValueError(f"unknown IPsec daemon {daemon!r} (use {', '.join(IPSEC_DAEMONS)})")
    phase1, phase2 = list(config.ike.phase1), list(config.ike.phase2)
    if daemon == "libreswan":
        phase1 = [s for s in phase1 if _libreswan_ok(s)]
        phase2 = [s for s in phase2 if _libreswan_ok(s)]
    return phase1, phase2


def linux_proposals(config: Config, daemon: str = "strongswan") -> tuple[list[str], list[str]]:
    """(ike, esp) proposal strings of the Linux profile, one suite each, in the server's order.

    For strongSwan these are also swanctl ``proposals``/``esp_proposals`` entries as they are: the
    interop harness's strongSwan client can use them unchanged.
    """
    phase1, phase2 = linux_suites(config, daemon)
    name = _libreswan_name if daemon == "libreswan" else str
    return [name(s) for s in phase1], [name(s) for s in phase2]


def nm_algorithms(proposals: Sequence[str], daemon: str) -> str:
    """The ``ipsec-ike``/``ipsec-esp`` value: comma-separated; strongSwan's trailing ``!`` makes the list
    strict (without it strongSwan appends its own defaults)."""
    return ",".join(proposals) + ("!" if daemon == "strongswan" else "")
