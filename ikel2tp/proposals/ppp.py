"""PPP-side mismatches in the same spirit as the proposal explanations (text only, so the server
and its PPP wiring can call them): authentication methods neither side can agree on (Windows
errors 628/691) and encryption (CCP/MPPE) the client insists on (Windows error 742).
"""

from __future__ import annotations

from collections.abc import Sequence

# What a Windows client shows (facts: /work/shared/CLIENT-FACTS.md pain points 1, 2, 4).
WINDOWS_ERRORS = {
    628: "the connection was closed by the remote computer before it could be completed: "
    "typically the server refused every authentication method the client allows",
    691: "the user name or password was not accepted (wrong credentials, or an authentication protocol "
    "the account cannot use)",
    742: "the client requires data encryption (MPPE) and the server does not offer it",
    789: "the L2TP connection attempt failed: IPsec negotiation failed (proposal or pre-shared key), "
    "or a second client behind the same NAT",
    809: "no answer from the server: UDP 500/4500 blocked, or NAT traversal needs "
    "AssumeUDPEncapsulationContextOnSendRule",
}
_NAMES = {"mschapv2": "MS-CHAP v2", "chap": "CHAP (MD5)", "pap": "PAP"}


def windows_error(code: int) -> str:
    text = WINDOWS_ERRORS.get(code)
    return f"Windows error {code}: {text}" if text else f"Windows error {code}: no explanation known"


def explain_auth_methods(ours: Sequence[str], client: Sequence[str]) -> str | None:
    """None when one of our ``[ppp] auth`` methods is one the client accepts; else the plain-words
    refusal with the configuration line that fixes it."""
    if set(ours) & set(client):
        return None
    theirs = ", ".join(_NAMES.get(m, m) for m in client) or "nothing"
    mine = ", ".join(_NAMES.get(m, m) for m in ours)
    fix = f'add "{client[0]}" to [ppp] auth' if client else "allow an authentication protocol on the client"
    return (
        f"PPP authentication refused: the client accepts {theirs}, we require {mine} "
        f"(Windows error 628, sometimes 691); fix: {fix}"
    )


def explain_auth_failure(user: str, method: str) -> str:
    """A method both sides accept, but the credentials did not verify (error 691, not a mismatch)."""
    return (
        f"PPP authentication failed for {user!r} with {_NAMES.get(method, method)}: wrong user name or "
        "password (Windows error 691); this is not a protocol mismatch"
    )


def explain_ccp(client_requires_encryption: bool) -> str | None:
    """ikel2tp rejects CCP: IPsec already encrypts the L2TP session, MPPE would add nothing."""
    if not client_requires_encryption:
        return None
    return (
        "PPP: the client requires encryption (CCP/MPPE) and we reject CCP because IPsec already encrypts "
        "the session (Windows error 742); fix on the client: VPN properties > Security > Data encryption: "
        "'Optional encryption' (or 'Require encryption' with L2TP/IPsec, which counts IPsec)"
    )
