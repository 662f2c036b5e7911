"""Main Mode with RSA signatures (RFC 2409 §5.1): our initiator against our responder, in memory,
with the certificates of certs/fixtures."""

from __future__ import annotations

import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ikel2tp.certs.verify import dn_text
from ikel2tp.ike.auth import AuthContext
from ikel2tp.ike.certauth import CertAuthenticator, subject_allowed
from ikel2tp.ike.constants import CertEncoding, IdType, NotifyType, PayloadType
from ikel2tp.ike.events import ChildSaEstablished, Phase1Deleted, Phase1Established, Phase1Failed
from ikel2tp.ike.message import split
from ikel2tp.ike.payloads import CertPayload, CertReqPayload, FragmentPayload, SigPayload, pull_payloads
from ikel2tp.ike.settings import IkeSettings
from tests.ike.certs import FIXTURES, cert_settings, credential, factories
from tests.ike.peers import Pair

SUITES = {"phase1": ("aes256-sha256-modp2048",), "phase2": ("aes256-sha256",)}


def cert_pair(
    client: tuple = ("alice",),
    server: tuple = ("server",),
    *,
    client_ca="ca",
    server_ca="ca",
    allowed=(),
    client_id=None,
    fragment_size=1280,
) -> Pair:
    return Pair(
        IkeSettings(**SUITES, fragment_size=fragment_size),
        IkeSettings(**SUITES, local_id=client_id, fragment_size=fragment_size),
        server_auth=factories(cert_settings(*server, ca=server_ca, allowed=allowed)),
        client_auth=factories(cert_settings(*client, ca=client_ca)),
    )


def run(pair: Pair, caplog) -> None:
    with caplog.at_level(logging.INFO):
        pair.start()
        pair.pump()


def test_certificates_both_ways(caplog):
    pair = cert_pair(allowed=("CN=alice*",))
    run(pair, caplog)
    server = pair.events("server", Phase1Established)
    client = pair.events("client", Phase1Established)
    assert [e.peer_id for e in server] == ["CN=alice"]
    assert [e.peer_id for e in client] == ["CN=vpn.example.com"]
    assert len(pair.events("server", ChildSaEstablished)) == 1


def test_our_id_can_be_a_san_of_our_certificate(caplog):
    pair = cert_pair(client_id="alice")  # ID_FQDN "alice" = alice's SAN DNS:alice
    run(pair, caplog)
    assert [e.peer_id for e in pair.events("server", Phase1Established)] == ["alice"]


REFUSALS = [
    ("expired", 'the peer\'s certificate "expired" expired on ', NotifyType.INVALID_CERTIFICATE),
    ("revoked", 'certificate "revoked" (serial', NotifyType.INVALID_CERTIFICATE),
    ("mallory", '"mallory" was issued by an unknown CA "CN=Other VPN CA"', NotifyType.INVALID_CERT_AUTHORITY),
]


@pytest.mark.parametrize("name,reason,notify", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_bad_client_certificates_are_refused_with_the_reason(name, reason, notify, caplog):
    pair = cert_pair(client=(name,))
    run(pair, caplog)
    failed = pair.events("server", Phase1Failed)
    assert len(failed) == 1 and reason in failed[0].reason, failed
    assert reason in caplog.text
    if name == "revoked":
        assert "was revoked on" in failed[0].reason and "keyCompromise" in failed[0].reason
    assert not pair.events("server", Phase1Established) and not pair.server.ike_sas()
    # The client hears why (an encrypted notify) and gives up at once.
    assert [e.reason for e in pair.events("client", Phase1Failed)] == [f"peer answered {notify.name}"]


def test_id_not_matching_the_certificate_is_refused(caplog):
    pair = cert_pair(client_id="bob.example.com")
    run(pair, caplog)
    (failed,) = pair.events("server", Phase1Failed)
    assert 'ID FQDN "bob.example.com" does not match certificate subject "CN=alice"' in failed.reason
    assert pair.events("client", Phase1Failed)[0].reason == "peer answered INVALID_ID_INFORMATION"


def test_allowed_subjects_refuse_other_clients(caplog):
    pair = cert_pair(allowed=("CN=bob", "CN=carol,*"))
    run(pair, caplog)
    (failed,) = pair.events("server", Phase1Failed)
    assert 'certificate subject "CN=alice" is not in allowed_subjects' in failed.reason
    assert pair.events("client", Phase1Failed)[0].reason == "peer answered AUTHENTICATION_FAILED"


def test_client_refuses_a_server_from_another_ca(caplog):
    pair = cert_pair(client_ca="other-ca", server_ca="ca")
    run(pair, caplog)
    (failed,) = pair.events("client", Phase1Failed)
    assert 'was issued by an unknown CA "CN=ikel2tp Test CA"' in failed.reason
    assert not pair.events("client", Phase1Established)
    # The server had finished with MM6; the client's Delete removes its SA there too.
    assert [e.reason for e in pair.events("server", Phase1Deleted)] == ["peer sent Delete"]
    assert not pair.server.ike_sas() and "reports error INVALID_CERT_AUTHORITY" in caplog.text


@pytest.mark.parametrize("client_ca,presented", [("ca", "CN=vpn.example.com"), ("other-ca", "CN=mallory")])
def test_our_certificate_is_chosen_by_the_peers_certreq(client_ca, presented, caplog):
    """The server holds two certificates from two CAs; the client's CERTREQ names the CA it trusts."""
    client = "alice" if client_ca == "ca" else "mallory"
    pair = Pair(
        IkeSettings(**SUITES),
        IkeSettings(**SUITES),
        server_auth=factories(cert_settings("mallory", "server", ca=("ca", "other-ca"))),
        client_auth=factories(cert_settings(client, ca=client_ca)),
    )
    run(pair, caplog)
    assert [e.peer_id for e in pair.events("client", Phase1Established)] == [presented]


def _fragments(pair: Pair, direction: str) -> list[FragmentPayload]:
    out = []
    for d, data in pair.wire:
        header, body = split(data)
        if d == direction and header.next_payload == PayloadType.FRAGMENT:
            out.append(pull_payloads(body, PayloadType.FRAGMENT)[0].payload)
    return out


def test_certificate_messages_fragment_and_reassemble(caplog):
    """MM5 and MM6 (ID, CERT, SIG: ~1.2 kB with the fixtures' 2048-bit keys, more with 3072-bit
    keys or chains) exceed a 576-byte path: both sides announced fragmentation, so they travel as
    payload 132 fragments and are reassembled."""
    pair = cert_pair(fragment_size=576)
    run(pair, caplog)
    assert pair.events("server", Phase1Established) and pair.events("client", Phase1Established)
    for direction in ("c2s", "s2c"):
        frags = _fragments(pair, direction)
        assert (
            len(frags) >= 3 and frags[-1].last and [f.number for f in frags] == list(range(1, len(frags) + 1))
        )
    assert all(len(data) + 28 <= 576 for _, data in pair.wire)


def test_without_fragmentation_support_messages_go_whole(caplog, monkeypatch):
    from ikel2tp.ike.tasks import vendor

    monkeypatch.setattr(vendor, "initiator_vids", lambda: [])  # the client announces nothing
    pair = cert_pair(fragment_size=576)
    run(pair, caplog)
    assert pair.events("server", Phase1Established)
    assert not _fragments(pair, "c2s") and not _fragments(pair, "s2c")


# -- the authenticator on its own ---------------------------------------------------------------
CTX = AuthContext("sha256", b"k" * 32, b"gi", b"gr", b"i" * 8, b"r" * 8, b"sa")


def _alice_proof(id_b: bytes) -> list:
    return CertAuthenticator(cert_settings("alice")).build(CTX, id_b, True)


def _dn_id(name: str) -> bytes:
    return bytes([IdType.ID_DER_ASN1_DN, 0, 0, 0]) + credential(name).certificate.subject.public_bytes()


def test_authenticator_round_trip_and_tampering():
    server = CertAuthenticator(cert_settings("server"))
    id_b = _dn_id("alice")
    proof = _alice_proof(id_b)
    assert server.verify(CTX, id_b, proof, True) is None
    assert server.peer is not None and server.peer.subject == "CN=alice"
    bad_sig = [p if not isinstance(p, SigPayload) else SigPayload(bytes(len(p.data))) for p in proof]
    refusal = server.verify(CTX, id_b, bad_sig, True)
    assert refusal.notify == NotifyType.INVALID_SIGNATURE and "does not verify" in refusal.reason
    # A signature made for the responder's hash does not pass as the initiator's.
    assert server.verify(CTX, id_b, proof, False).notify == NotifyType.INVALID_SIGNATURE


@pytest.mark.parametrize(
    "payloads,notify,words",
    [
        (
            [CertPayload(CertEncoding.X509_SIGNATURE, b"\x30\x03junk"), SigPayload(b"x")],
            NotifyType.INVALID_CERT_ENCODING,
            "not a DER X.509 certificate",
        ),
        (
            [CertPayload(CertEncoding.PGP, b"pgp"), SigPayload(b"x")],
            NotifyType.CERT_TYPE_UNSUPPORTED,
            "encoding 2",
        ),
        ([SigPayload(b"x")], NotifyType.AUTHENTICATION_FAILED, "no certificate"),
    ],
    ids=["not-der", "pgp", "no-cert"],
)
def test_bad_cert_payloads_are_refused(payloads, notify, words):
    refusal = CertAuthenticator(cert_settings("server")).verify(CTX, _dn_id("alice"), payloads, True)
    assert refusal.notify == notify and words in refusal.reason


def test_chain_order_does_not_matter():
    """RFC 4945 §3.3: a CA certificate sent before the peer's own is skipped as end entity."""
    id_b = _dn_id("alice")
    proof = _alice_proof(id_b)
    ca_der = (FIXTURES / "ca.cer").read_bytes()
    reordered = [CertPayload(CertEncoding.X509_SIGNATURE, ca_der), *proof]
    assert CertAuthenticator(cert_settings("server")).verify(CTX, id_b, reordered, True) is None


def test_certreq_names_our_cas_and_unknown_requests_keep_the_default():
    auth = CertAuthenticator(cert_settings("server", "mallory"))
    (req,) = auth.requests()
    assert dn_text(req.data) == "CN=ikel2tp Test CA"
    auth.peer_requested([CertReqPayload(CertEncoding.X509_SIGNATURE, b"\x30\x00")])
    assert auth.credential.certificate.subject.rfc4514_string() == "CN=vpn.example.com"
    auth.peer_requested([CertReqPayload(CertEncoding.X509_SIGNATURE, b"")])  # any CA
    assert auth.identity() == (IdType.ID_DER_ASN1_DN, credential("server").certificate.subject.public_bytes())


@pytest.mark.parametrize(
    "patterns,allowed",
    [
        ((), True),
        (("CN=alice",), True),
        (("cn=ALICE*",), True),
        (("CN=alice,O=x",), False),
        (("CN=bob", "CN=al?ce"), True),
        (("O=*",), False),
    ],
)
def test_subject_patterns(patterns, allowed):
    assert subject_allowed(credential("alice").certificate.subject, patterns) is allowed


def test_key_must_belong_to_certificate():
    from ikel2tp.ike.certauth import Credential

    with pytest.raises(ValueError, match="does not belong"):
        Credential(credential("alice").certificate, credential("server").key)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_mutated_proofs_are_refused_never_raise(data):
    """Bit flips and truncations of a real proof (ID, CERT, SIG) give a refusal, never an exception
    and never an acceptance."""
    id_b = _dn_id("alice")
    proof = _valid_proof()
    which = data.draw(st.sampled_from(["id", "cert", "sig"]))
    blob = {"id": id_b, "cert": proof[0].data, "sig": proof[1].data}[which]
    position = data.draw(st.integers(0, len(blob) - 1))
    if data.draw(st.booleans()):
        mutated = (
            blob[:position] + bytes([blob[position] ^ data.draw(st.integers(1, 255))]) + blob[position + 1 :]
        )
    else:
        mutated = blob[:position]
    if which == "id":
        id_b = mutated
    elif which == "cert":
        proof = [CertPayload(CertEncoding.X509_SIGNATURE, mutated), proof[1]]
    else:
        proof = [proof[0], SigPayload(mutated)]
    refusal = _server().verify(CTX, id_b, proof, True)
    assert refusal is not None and refusal.reason


_cache: dict = {}


def _valid_proof() -> list:
    if "proof" not in _cache:
        _cache["proof"] = _alice_proof(_dn_id("alice"))
    return _cache["proof"]


def _server() -> CertAuthenticator:
    return CertAuthenticator(cert_settings("server"))
