"""MS-CHAPv2 (RFC 2759): the hash functions of §8, and the Success/Failure message texts of §5-6.

Formulas are written as in the RFC; DES is the single-DES "encrypt one block" of §8.6, done with
cryptography's TripleDES under the same 8-byte key three times (EDE with K1=K2=K3 is single DES).
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes

from ikel2tp.ppp.auth.md4 import md4

# RFC 2759 §8.7 magic constants.
_MAGIC1 = b"Magic server to client signing constant"
_MAGIC2 = b"Pad to make it do more than one iteration"

CHALLENGE_LENGTH = 16  # RFC 2759 §3: the authenticator and peer challenges
# RFC 2759 §4: Response value = Peer-Challenge(16) | Reserved(8, zero) | NT-Response(24) | Flags(1).
RESPONSE_VALUE_LENGTH = 49


def hash_user_name(user: str) -> bytes:
    """RFC 2759 §8.2: the user name in the challenge hash has any ``DOMAIN\\`` prefix stripped."""
    return user.rsplit("\\", 1)[-1].encode("utf-8")


def nt_password_hash(password: str) -> bytes:
    """RFC 2759 §8.3 NtPasswordHash: MD4 of the password in UTF-16 little-endian (Unicode)."""
    return md4(password.encode("utf-16-le"))


def hash_nt_password_hash(password_hash: bytes) -> bytes:
    """RFC 2759 §8.4 HashNtPasswordHash: MD4(PasswordHash)."""
    return md4(password_hash)


def challenge_hash(peer_challenge: bytes, authenticator_challenge: bytes, user: str) -> bytes:
    """RFC 2759 §8.2 ChallengeHash: first 8 bytes of SHA1(PeerChallenge | AuthChallenge | UserName)."""
    return hashlib.sha1(peer_challenge + authenticator_challenge + hash_user_name(user)).digest()[:8]


def _des_key(key7: bytes) -> bytes:
    """RFC 2759 §8.6 note: spread 56 key bits into 8 bytes, 7 bits each (the parity bit is ignored)."""
    bits = int.from_bytes(key7, "big")
    return bytes(((bits >> (49 - 7 * i)) & 0x7F) << 1 for i in range(8))


def _des_encrypt(key7: bytes, block: bytes) -> bytes:
    key = _des_key(key7)
    encryptor = Cipher(TripleDES(key * 3), modes.ECB()).encryptor()
    return encryptor.update(block) + encryptor.finalize()


def challenge_response(challenge: bytes, password_hash: bytes) -> bytes:
    """RFC 2759 §8.5 ChallengeResponse: DES-encrypt the 8-byte challenge under three 7-byte keys
    cut from the password hash zero-padded to 21 bytes."""
    z = password_hash.ljust(21, b"\x00")
    return b"".join(_des_encrypt(z[i : i + 7], challenge) for i in (0, 7, 14))


def generate_nt_response(
    authenticator_challenge: bytes, peer_challenge: bytes, user: str, password_hash: bytes
) -> bytes:
    """RFC 2759 §8.1 GenerateNTResponse, from the NT password hash (so configs need no plaintext)."""
    return challenge_response(challenge_hash(peer_challenge, authenticator_challenge, user), password_hash)


def generate_authenticator_response(
    password_hash: bytes,
    nt_response: bytes,
    peer_challenge: bytes,
    authenticator_challenge: bytes,
    user: str,
) -> str:
    """RFC 2759 §8.7 GenerateAuthenticatorResponse: ``"S="`` and 40 upper-case hex digits."""
    digest = hashlib.sha1(hash_nt_password_hash(password_hash) + nt_response + _MAGIC1).digest()
    challenge = challenge_hash(peer_challenge, authenticator_challenge, user)
    digest = hashlib.sha1(digest + challenge + _MAGIC2).digest()
    return "S=" + digest.hex().upper()


def verify_nt_response(
    authenticator_challenge: bytes, peer_challenge: bytes, user: str, password_hash: bytes, nt_response: bytes
) -> bool:
    """Constant-time check of a peer's NT-Response against the stored password hash."""
    expected = generate_nt_response(authenticator_challenge, peer_challenge, user, password_hash)
    return hmac.compare_digest(expected, nt_response)


def success_message(authenticator_response: str, message: str) -> bytes:
    """RFC 2759 §5 Success packet message: ``S=<auth_string> M=<message>``."""
    return f"{authenticator_response} M={message}".encode()


def failure_message(code: int, authenticator_challenge: bytes, message: str) -> bytes:
    """RFC 2759 §6 Failure packet message: ``E=eeeeeeeeee R=r C=cccc V=vvvvvvvvvv M=<msg>``.

    ``R=0``: we do not let the client retry inside this link (a new attempt is a new connection, so
    the failure rate limit sees it); ``V=3`` is the MS-CHAPv2 password change protocol version.
    """
    return f"E={code} R=0 C={authenticator_challenge.hex().upper()} V=3 M={message}".encode()


def parse_success_message(message: bytes) -> str | None:
    """The ``S=<40 hex>`` authenticator response in a Success message, or None (client role)."""
    text = message.decode("ascii", "replace")
    if len(text) >= 42 and text.startswith("S="):
        return text[:42].upper()
    return None
