"""MS-CHAPv2 against RFC 2759 §9.2 sample data."""

from ikel2tp.ppp.auth import mschapv2

USER = "User"
PASSWORD = "clientPass"
AUTH_CHALLENGE = bytes.fromhex("5B5D7C7D7B3F2F3E3C2C602132262628")
PEER_CHALLENGE = bytes.fromhex("21402324255E262A28295F2B3A337C7E")
CHALLENGE = bytes.fromhex("D02E4386BCE91226")
NT_RESPONSE = bytes.fromhex("82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF")
PASSWORD_HASH = bytes.fromhex("44EBBA8D5312B8D611474411F56989AE")
PASSWORD_HASH_HASH = bytes.fromhex("41C00C584BD2D91C4017A2A12FA59F3F")
AUTHENTICATOR_RESPONSE = "S=407A5589115FD0D6209F510FE9C04566932CDA56"


def test_nt_password_hash() -> None:
    assert mschapv2.nt_password_hash(PASSWORD) == PASSWORD_HASH
    assert mschapv2.hash_nt_password_hash(PASSWORD_HASH) == PASSWORD_HASH_HASH


def test_challenge_hash() -> None:
    assert mschapv2.challenge_hash(PEER_CHALLENGE, AUTH_CHALLENGE, USER) == CHALLENGE


def test_nt_response() -> None:
    assert mschapv2.challenge_response(CHALLENGE, PASSWORD_HASH) == NT_RESPONSE
    assert mschapv2.generate_nt_response(AUTH_CHALLENGE, PEER_CHALLENGE, USER, PASSWORD_HASH) == NT_RESPONSE


def test_authenticator_response() -> None:
    got = mschapv2.generate_authenticator_response(
        PASSWORD_HASH, NT_RESPONSE, PEER_CHALLENGE, AUTH_CHALLENGE, USER)
    assert got == AUTHENTICATOR_RESPONSE


def test_domain_is_stripped_from_the_hashed_name() -> None:
    assert mschapv2.challenge_hash(PEER_CHALLENGE, AUTH_CHALLENGE, "CORP\\User") == CHALLENGE


def test_verify() -> None:
    assert mschapv2.verify_nt_response(AUTH_CHALLENGE, PEER_CHALLENGE, USER, PASSWORD_HASH, NT_RESPONSE)
    wrong = mschapv2.nt_password_hash("clientpass")
    assert not mschapv2.verify_nt_response(AUTH_CHALLENGE, PEER_CHALLENGE, USER, wrong, NT_RESPONSE)


def test_messages() -> None:
    assert mschapv2.success_message(AUTHENTICATOR_RESPONSE, "Welcome") == (
        b"S=407A5589115FD0D6209F510FE9C04566932CDA56 M=Welcome")
    assert mschapv2.failure_message(691, AUTH_CHALLENGE, "Authentication failed") == (
        b"E=691 R=0 C=5B5D7C7D7B3F2F3E3C2C602132262628 V=3 M=Authentication failed")
    success = b"S=407a5589115fd0d6209f510fe9c04566932cda56 M=x"
    assert mschapv2.parse_success_message(success) == AUTHENTICATOR_RESPONSE
    assert mschapv2.parse_success_message(b"E=691") is None
