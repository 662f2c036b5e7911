"""``ikel2tp proposals probe HOST``: which phase 1 transforms a gateway accepts (like ike-scan).

One Main Mode first message per transform (RFC 2409 §5, built with the IKE codecs), sent only to
the address given; the answer is a Main Mode 2 with the chosen SA (accepted), a notification such
as NO-PROPOSAL-CHOSEN (refused) or nothing (silent).  Message building and classification are pure
functions; :func:`probe` does the UDP I/O.  An accepted probe leaves a half-open SA on the gateway
until its half-open timeout (as ike-scan does).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ikel2tp.common.errors import ProtocolError
from ikel2tp.ike import proposal, suites
from ikel2tp.ike.constants import NATT_PORT, AuthMethod, ExchangeType, Flag
from ikel2tp.ike.message import Header, decode_plain, encode, split
from ikel2tp.ike.payloads import NotifyPayload, SaPayload
from ikel2tp.ike.suites import Phase1Suite
from ikel2tp.ike.tasks import vendor

ZERO = bytes(8)
NON_ESP_MARKER = b"\x00\x00\x00\x00"
DEFAULT_TRANSFORMS = (
    *suites.DEFAULT_PHASE1,
    "3des-md5-modp1024",
    "aes256-sha1-modp1536",
    "aes128-sha256-modp3072",
)


@dataclass(frozen=True)
class ProbeResult:
    transform: str
    verdict: str  # "accepted", "refused", "silent", "answered"
    detail: str = ""

    def line(self) -> str:
        return f"{self.transform:<28} {self.verdict}{': ' + self.detail if self.detail else ''}"


def build_probe(
    suite: Phase1Suite, icookie: bytes, auth_method: int = AuthMethod.PRE_SHARED_KEY, lifetime: int = 28800
) -> bytes:
    """A Main Mode 1 offering exactly ``suite`` (plus our NAT-T, DPD and fragmentation VIDs)."""
    sa = proposal.phase1_sa([suite], auth_method, lifetime)
    header = Header(icookie, ZERO, 0, ExchangeType.IDENTITY_PROTECTION, 0, 0)
    return encode(header, [sa, *vendor.initiator_vids()])


def classify(answer: bytes, icookie: bytes, transform: str) -> ProbeResult | None:
    """What an answer says about our probe with ``icookie``; None when it is not about it."""
    try:
        header, body = split(answer)
    except ProtocolError:
        return None
    if header.icookie != icookie:
        return None
    if header.flags & Flag.ENCRYPTION:
        return ProbeResult(transform, "answered", "an encrypted message (not a Main Mode 2)")
    try:
        message = decode_plain(header, body)
    except ProtocolError as exc:
        return ProbeResult(transform, "answered", f"a malformed message ({exc.reason})")
    sa = message.first(SaPayload)
    if sa is not None and sa.proposals and sa.proposals[0].transforms:
        chosen = proposal.decode_phase1(sa.proposals[0].transforms[0])
        return ProbeResult(transform, "accepted", f"responder chose {chosen.label()}")
    notifies = message.all(NotifyPayload)
    if notifies:
        return ProbeResult(transform, "refused", ", ".join(n.name().replace("_", "-") for n in notifies))
    return ProbeResult(transform, "answered", "a message without SA or notification")


def probe(
    host: str,
    transforms: Sequence[str],
    *,
    port: int = 500,
    timeout: float = 2.0,
    tries: int = 2,
    auth_method: int = AuthMethod.PRE_SHARED_KEY,
    random: Callable[[int], bytes] = os.urandom,
) -> list[ProbeResult]:
    """Probe ``host`` with one Main Mode 1 per transform; ValueError names a bad transform string."""
    parsed = [(text, suites.parse_phase1(text)) for text in transforms]
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    results = []
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.connect((host, port))
        for text, suite in parsed:
            icookie = random(8)
            data = build_probe(suite, icookie, auth_method)
            if port == NATT_PORT:
                data = NON_ESP_MARKER + data
            results.append(_exchange(sock, data, icookie, text, port, timeout, tries))
    return results


def _exchange(
    sock: socket.socket, data: bytes, icookie: bytes, text: str, port: int, timeout: float, tries: int
) -> ProbeResult:
    for _ in range(tries):
        sock.send(data)
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                answer = sock.recv(65535)
            except TimeoutError:
                break
            except ConnectionRefusedError:
                return ProbeResult(text, "silent", "ICMP port unreachable: nothing listens there")
            if port == NATT_PORT:
                if not answer.startswith(NON_ESP_MARKER):
                    continue
                answer = answer[4:]
            result = classify(answer, icookie, text)
            if result is not None:
                return result
    return ProbeResult(text, "silent", f"no answer after {tries} tries of {timeout:g} s")
