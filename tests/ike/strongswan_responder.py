"""Run ikel2tp's IKE responder on real UDP sockets for a while (test_strongswan.py starts it inside
a network namespace) and print, as JSON lines, the key material it derived, so the test can
compare it with the keys the real strongSwan peer logs.

    python strongswan_responder.py ADDRESS SECONDS PSK PHASE1,... PHASE2,... [force_encap]
                                   [wrong_psk_peer=ADDRESS] [certs=DIRECTORY] [fragment_size=BYTES]

With ``certs``, it also accepts RSA signature authentication with DIRECTORY's server.crt/.key,
trusting ca.crt and checking crl.pem (the layout of certs/fixtures).
"""

from __future__ import annotations

import itertools
import json
import logging
import select
import socket
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ikel2tp.certs.store import load_certificate, load_certificates, load_crl, load_private_key  # noqa: E402
from ikel2tp.ike.certauth import CertAuthenticator, CertSettings, Credential  # noqa: E402
from ikel2tp.ike.constants import AuthMethod  # noqa: E402
from ikel2tp.ike.events import Phase1Established, Phase1Failed  # noqa: E402
from ikel2tp.ike.manager import IkeManager  # noqa: E402
from ikel2tp.ike.settings import IkeSettings, PeerSettings  # noqa: E402
from ikel2tp.ike.tasks.quick_mode import QmState  # noqa: E402

NON_ESP_MARKER = b"\0\0\0\0"


def main() -> None:
    address, seconds, psk, phase1, phase2 = sys.argv[1:6]
    options = dict(arg.partition("=")[::2] for arg in sys.argv[6:])
    wrong = options.get("wrong_psk_peer")
    peers = (PeerSettings(wrong, b"not-" + psk.encode()),) if wrong else ()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    settings = IkeSettings(
        psk=psk.encode(),
        phase1=tuple(phase1.split(",")),
        phase2=tuple(phase2.split(",")),
        aggressive=True,
        force_encap="force_encap" in options,
        peers=peers,
        fragment_size=int(options.get("fragment_size", 1280)),
    )
    authenticators = {}
    if "certs" in options:
        d = Path(options["certs"])
        certs = CertSettings(
            (Credential(load_certificate(d / "server.crt"), load_private_key(d / "server.key")),),
            tuple(load_certificates(d / "ca.crt")),
            lambda: datetime.now(UTC),
            crls=(load_crl(d / "crl.pem"),),
        )
        authenticators[AuthMethod.RSA_SIGNATURES] = lambda remote, peer_id: CertAuthenticator(certs)
    spis = itertools.count(0xC0DE0001)
    ike = IkeManager(
        settings,
        spi_allocator=lambda: next(spis),
        log=logging.getLogger("ikel2tp.ike"),
        authenticators=authenticators,
    )
    socks = {}
    for port in (500, 4500):
        socks[port] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        socks[port].bind((address, port))
    print(json.dumps({"ready": True}), flush=True)
    reported: set = set()
    end = time.monotonic() + float(seconds)
    while time.monotonic() < end:
        readable, _, _ = select.select(list(socks.values()), [], [], 0.1)
        now = time.monotonic()
        for sock in readable:
            data, remote = sock.recvfrom(65535)
            port = sock.getsockname()[1]
            if port == 4500:
                if not data.startswith(NON_ESP_MARKER):
                    continue  # ESP or a keepalive
                data = data[4:]
            ike.receive_datagram(data, (address, port), remote, now)
        timer = ike.get_timer()
        if timer is not None and timer <= now:
            ike.handle_timer(now)
        for data, local, remote in ike.datagrams_to_send():
            socks[local[1]].sendto(NON_ESP_MARKER + data if local[1] == 4500 else data, remote)
        while (event := ike.next_event()) is not None:
            if isinstance(event, Phase1Failed):
                print(json.dumps({"failed": event.reason}), flush=True)
            elif isinstance(event, Phase1Established):
                print(json.dumps({"peer_id": event.peer_id}), flush=True)
        for sa in ike.ike_sas():
            if sa.keys is not None and sa.established and ("p1", sa.sa_id) not in reported:
                reported.add(("p1", sa.sa_id))
                k = sa.keys
                print(
                    json.dumps(
                        {
                            "suite": sa.suite,
                            "encap": sa.encap,
                            "skeyid": k.skeyid.hex(),
                            "skeyid_d": k.skeyid_d.hex(),
                            "skeyid_a": k.skeyid_a.hex(),
                            "skeyid_e": k.skeyid_e.hex(),
                            "ka": k.enc_key.hex(),
                        }
                    ),
                    flush=True,
                )
            for qm in sa.quick_modes.values():
                # strongSwan derives its keys before installing them; our QM2 is out, QM3 may never come
                if qm.state == QmState.QM2_SENT and ("qm", qm.message_id) not in reported:
                    reported.add(("qm", qm.message_id))
                    c = qm.child_keys()
                    pair = (c.enc_key_in, c.enc_key_out, c.auth_key_in, c.auth_key_out)
                    keys = sorted(k.hex() for k in pair)
                    print(
                        json.dumps(
                            {"spi_in": c.spi_in, "spi_out": c.spi_out, "encap": c.encap, "keys": keys}
                        ),
                        flush=True,
                    )


if __name__ == "__main__":
    main()
