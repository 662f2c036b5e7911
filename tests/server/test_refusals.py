"""The server keeps the last refusals per peer (``ikel2tp proposals last``): IKE proposals, a PSK
that does not match, PPP authentication methods, wrong passwords, CCP/MPPE; and the debug export
of IKE keys.  Wired on the fake data plane (tests/server/backtoback.py); the real thing runs in
test_e2e.py (``refused``)."""

from __future__ import annotations

import os
import stat
from types import SimpleNamespace

from ikel2tp.config import Config
from ikel2tp.ike.events import Phase1Failed, QuickModeFailed
from ikel2tp.ike.proposal import Difference, NearestMiss, Refusal
from ikel2tp.ppp.auth.credentials import AuthMethod
from ikel2tp.proposals.explain import parse_decryption_table
from ikel2tp.server.daemon import Daemon
from ikel2tp.server.keyexport import IkeKeyExport
from tests.server.backtoback import LOG
from tests.server.test_wiring import NAT, connect, make_gateway

PEER = ("198.51.100.7", 500)
HASH_MISS = Refusal(1, ("aes256-md5-modp2048/psk",), ("aes256-sha1-modp2048/psk",),
                    NearestMiss("aes256-md5-modp2048/psk", "aes256-sha1-modp2048/psk",
                                (Difference("hash", "md5", "sha1"),)))


def texts(gateway, peer=None) -> list[str]:
    return [r["text"] for r in gateway.refusals.as_json(peer)]


def test_ike_failures_are_kept_per_peer_in_plain_words():
    gateway, ike, _ = make_gateway()
    ike.events.append(Phase1Failed(PEER, "no acceptable proposal", HASH_MISS))
    ike.events.append(Phase1Failed(("198.51.100.8", 500), "the pre-shared key does not match (HASH_I did not "
                                   "verify) for 198.51.100.8"))
    ike.events.append(QuickModeFailed(3, PEER, "no acceptable proposal",
                                      Refusal(2, ("aes128-md5",), ("aes128-sha1",),
                                              NearestMiss("aes128-md5", "aes128-sha1",
                                                          (Difference("integrity", "md5", "sha1"),)))))
    gateway.pump(100.0)
    assert texts(gateway, PEER[0]) == [
        'phase 1 refused: hash: client md5, server sha1; fix: add "aes256-md5-modp2048" to [ike] phase1 '
        "(weak: md5; better make the client offer a stronger suite)",
        'phase 2 refused: integrity: client md5, server sha1; fix: add "aes128-md5" to [ike] phase2 '
        "(weak: md5; better make the client offer a stronger suite)",
    ]
    assert texts(gateway, "198.51.100.8") == [
        "phase 1 failed: the pre-shared key does not match (HASH_I did not verify) for 198.51.100.8"]
    assert len(texts(gateway)) == 3 and texts(gateway, "192.0.2.99") == []


def test_ppp_auth_methods_nobody_shares_are_explained():
    gateway, ike, _ = make_gateway()  # the server requires MS-CHAPv2 or CHAP
    client = connect(gateway, ike, ike_sa_id=1, spi=0x1000, port=4500, user="alice", password="alice-secret",
                     auth=(AuthMethod.PAP,))
    assert client.address is None
    (text,) = texts(gateway, NAT)
    assert text.startswith("PPP authentication refused: the client accepts PAP, we require MS-CHAP v2, "
                           "CHAP (MD5) (Windows error 628")
    assert text.endswith('fix: add "pap" to [ppp] auth')


def test_a_wrong_password_is_not_called_a_mismatch():
    gateway, ike, _ = make_gateway()
    connect(gateway, ike, ike_sa_id=1, spi=0x1000, port=4500, user="bob", password="guess")
    (text,) = texts(gateway, NAT)
    assert text.startswith("PPP authentication failed for 'bob' with MS-CHAP v2: wrong user name or password "
                           "(Windows error 691); this is not a protocol mismatch (server: ")
    assert "guess" not in text


def test_a_client_that_hangs_up_after_ccp_is_told_about_mppe():
    gateway, ike, _ = make_gateway()
    client = connect(gateway, ike, ike_sa_id=1, spi=0x1000, port=4500, user="alice", password="alice-secret")
    assert client.address is not None
    ccp_request = b"\xff\x03\x80\xfd" + bytes([1, 1, 0, 10, 18, 6, 0, 0, 0, 0x40])  # MPPE 128-bit
    client._send(client.lac.data(client.session_id, ccp_request), 101.0)
    client.ppp.close("encryption required", 101.0)
    client.run_ppp(101.0)
    (text,) = texts(gateway, NAT)
    assert text.startswith("PPP: the client requires encryption (CCP/MPPE)") and "error 742" in text


def test_a_client_that_negotiated_and_left_is_no_refusal():
    gateway, ike, _ = make_gateway()
    client = connect(gateway, ike, ike_sa_id=1, spi=0x1000, port=4500, user="alice", password="alice-secret")
    client.ppp.close("bye", 101.0)
    client.run_ppp(101.0)
    assert texts(gateway) == []


def test_the_control_request_answers_from_the_history():
    daemon = Daemon(Config())
    gateway, ike, _ = make_gateway()
    ike.events.append(Phase1Failed(PEER, "no acceptable proposal", HASH_MISS))
    gateway.pump(100.0)
    daemon.loop, daemon.gateway = SimpleNamespace(time=lambda: 100.0), gateway
    answer = daemon._control({"cmd": "refusals", "peer": PEER[0]})
    assert answer["ok"] and [r["peer"] for r in answer["refusals"]] == [PEER[0]]
    assert daemon._control({"cmd": "refusals", "peer": None})["refusals"] == answer["refusals"]
    assert daemon._control({"cmd": "refusals", "peer": "192.0.2.1"}) == {"ok": True, "refusals": []}
    assert daemon._control({"cmd": "refusals", "peer": 7})["ok"] is False


def test_ike_keys_are_exported_once_per_phase_1(tmp_path):
    path = tmp_path / "keys.txt"
    path.write_text("stale\n")
    gateway, ike, _ = make_gateway()
    gateway.key_export = IkeKeyExport(path, LOG)
    assert path.read_text() == "" and stat.S_IMODE(path.stat().st_mode) == 0o600
    sa = SimpleNamespace(sa_id=1, icookie=bytes.fromhex("0102030405060708"),
                         keys=SimpleNamespace(enc_key=b"K" * 16))
    ike.ike_sas = lambda: [SimpleNamespace(sa_id=2, icookie=b"x" * 8, keys=None), sa]
    connect(gateway, ike, ike_sa_id=1, spi=0x1000, port=4500, user="alice", password="alice-secret")
    assert parse_decryption_table(path.read_text()) == {sa.icookie: b"K" * 16}
    assert gateway.key_export.count == 1


def test_the_key_export_refuses_a_file_others_can_read(tmp_path, caplog):
    path = tmp_path / "keys.txt"
    export = IkeKeyExport(path, LOG)
    os.chmod(path, 0o644)
    export(b"\1" * 8, b"secret-key-bytes")
    assert path.read_text() == "" and export.count == 0
    assert "no longer a private regular file" in caplog.text
    path.unlink()
    export(b"\1" * 8, b"secret-key-bytes")  # gone: logged, nothing raised, nothing created
    assert not path.exists() and "secret" not in caplog.text
