"""Key material agreed with a real strongSwan initiator (charon 5.9 from Debian), run in a network
namespace pair this test creates and deletes.

strongSwan derives and logs (at level 4) its SKEYIDs and the ESP keys before it installs the SAs;
the host kernel has no ESP, so that install fails and no QM3 follows, which is fine here: the test
compares what both sides derived for the Windows, legacy, modern and PFS profiles and for Aggressive
Mode, once directly and once with UDP encapsulation forced by our NAT-D answer (strongSwan then
floats to port 4500).  Skipped unless run as root with charon, swanctl and ip available.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

CHARON = Path("/usr/lib/ipsec/charon")
pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not CHARON.exists() or not shutil.which("swanctl") or not shutil.which("ip"),
    reason="needs root, strongSwan's charon and swanctl, and iproute2",
)

SERVER, CLIENT, CLIENT_2 = "192.0.2.1", "192.0.2.7", "192.0.2.8"
PSK = "strongswan-interop-psk"
PROFILES = {  # connection: (IKE proposal, ESP proposal)
    "windows": ("aes256-sha1-ecp384", "aes256-sha1"),
    "legacy": ("3des-sha1-modp1024", "3des-sha1"),
    "modern": ("aes256-sha256-modp2048", "aes256-sha256"),
    "pfs": ("aes128-sha1-ecp256", "aes128-sha1-ecp256"),
    "aggressive": ("aes128-sha256-modp2048", "aes128-sha1"),  # Aggressive Mode, allowed by the helper
}
KEY_LINE = re.compile(
    r"\[(?:IKE|CHD)\] (SKEYID(?:_[dae])?|encryption key Ka|(?:encryption|integrity) "
    r"(?:initiator|responder) key) => (\d+) bytes"
)
HEX_LINE = re.compile(r"\[(?:IKE|CHD)\]\s+\d+: ((?:[0-9A-F]{2} )+)")


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def charon_keys(log: str) -> dict[str, set[str]]:
    """Every key strongSwan logged, by name: the hex dump lines follow the "NAME => N bytes" line."""
    found: dict[str, set[str]] = {}
    lines = log.splitlines()
    for i, line in enumerate(lines):
        match = KEY_LINE.search(line)
        if not match:
            continue
        name, size = match.group(1), int(match.group(2))
        data = ""
        for follow in lines[i + 1 :]:
            hex_match = HEX_LINE.search(follow)
            if not hex_match or len(data) >= 2 * size:
                break
            data += hex_match.group(1).replace(" ", "").lower()
        found.setdefault(name, set()).add(data[: 2 * size])
    return found


@pytest.fixture
def namespaces():
    tag = f"{os.getpid() % 100000}"
    server, client = f"iks{tag}", f"ikc{tag}"
    ip("netns", "add", server)
    try:
        ip("netns", "add", client)
        ip("link", "add", f"vs{tag}", "type", "veth", "peer", "name", f"vc{tag}")
        ip("link", "set", f"vs{tag}", "netns", server)
        ip("link", "set", f"vc{tag}", "netns", client)
        ip("-n", server, "addr", "add", f"{SERVER}/24", "dev", f"vs{tag}")
        ip("-n", client, "addr", "add", f"{CLIENT}/24", "dev", f"vc{tag}")
        ip("-n", client, "addr", "add", f"{CLIENT_2}/24", "dev", f"vc{tag}")
        for ns, dev in ((server, f"vs{tag}"), (client, f"vc{tag}")):
            ip("-n", ns, "link", "set", dev, "up")
            ip("-n", ns, "link", "set", "lo", "up")
        yield server, client
    finally:
        for ns in (server, client):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


PLUGINS = (
    "random nonce aes sha1 sha2 md5 hmac gmp openssl pem pkcs1 pkcs8 x509 pubkey constraints revocation "
    "kernel-netlink socket-default vici"
)


def run_charon(
    namespaces,
    tmp_path: Path,
    swanctl_conf: str,
    responder_args: list[str],
    initiate: list[tuple[str, str]],
    fragment_size: int = 1280,
) -> tuple[list[dict], str]:
    """Our responder (strongswan_responder.py) in the server namespace, charon in the client's,
    ``swanctl_conf`` loaded and each (child, timeout) of ``initiate`` started in turn; returns our
    responder's JSON lines and charon's log.  Credentials go in ``tmp_path``'s swanctl folders."""
    server_ns, client_ns = namespaces
    vici = f"unix://{tmp_path}/charon.vici"
    (tmp_path / "strongswan.conf").write_text(
        textwrap.dedent(f"""\
        charon {{
          load = {PLUGINS}
          install_routes = no
          retransmit_tries = 1
          fragment_size = {fragment_size}
          plugins {{ vici {{ socket = {vici} }} }}
          filelog {{
            test {{
              path = {tmp_path}/charon.log
              flush_line = yes
              default = 1
              ike = 4
              chd = 4
              cfg = 2
            }}
          }}
        }}
        """)
    )
    (tmp_path / "swanctl.conf").write_text(swanctl_conf)
    helper = Path(__file__).with_name("strongswan_responder.py")
    responder = subprocess.Popen(
        ["ip", "netns", "exec", server_ns, sys.executable, str(helper), SERVER, "60", *responder_args],
        stdout=subprocess.PIPE,
        stderr=(tmp_path / "responder.log").open("w"),  # our IKE log, for a failure's post-mortem
        text=True,
    )
    charon = subprocess.Popen(
        ["ip", "netns", "exec", client_ns, "sh", "-c", f"mount -t tmpfs tmpfs /run && exec {CHARON}"],
        env={**os.environ, "STRONGSWAN_CONF": str(tmp_path / "strongswan.conf")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert json.loads(responder.stdout.readline()) == {"ready": True}
        swanctl = ["ip", "netns", "exec", client_ns, "env", f"SWANCTL_DIR={tmp_path}", "swanctl"]
        for _ in range(50):  # until charon's vici socket answers
            loaded = subprocess.run(
                [*swanctl, "--load-all", "--uri", vici, "--file", str(tmp_path / "swanctl.conf")],
                capture_output=True,
                text=True,
            )
            if loaded.returncode == 0:
                break
            time.sleep(0.1)
        assert loaded.returncode == 0, loaded.stdout + loaded.stderr
        for name, wait in initiate:
            subprocess.run(
                [*swanctl, "--initiate", "--uri", vici, "--child", name, "--timeout", wait],
                capture_output=True,
                timeout=20,
            )
        time.sleep(0.5)
    finally:
        for process in (charon, responder):
            process.send_signal(signal.SIGTERM)
        output, _ = responder.communicate(timeout=10)
        charon.wait(timeout=10)
    return [json.loads(line) for line in output.splitlines()], (tmp_path / "charon.log").read_text()


def assert_phase1_keys(phase1: list[dict], theirs: dict[str, set[str]], extra: int = 0) -> None:
    """Every IKE SA we established has the SKEYIDs and Ka strongSwan logged (``extra``: attempts
    strongSwan logged keys for that never established on our side)."""
    for field, name in (
        ("skeyid", "SKEYID"),
        ("skeyid_d", "SKEYID_d"),
        ("skeyid_a", "SKEYID_a"),
        ("skeyid_e", "SKEYID_e"),
        ("ka", "encryption key Ka"),
    ):
        assert {o[field] for o in phase1} <= theirs[name] and len(theirs[name]) == len(phase1) + extra, name


@pytest.mark.parametrize("force_encap", [False, True], ids=["direct", "forced-udp-encap"])
def test_keys_agree_with_strongswan(namespaces, tmp_path, force_encap):
    connections = "".join(
        f"""
          {name} {{
            version = 1
            aggressive = {"yes" if name == "aggressive" else "no"}
            local_addrs = {CLIENT}
            remote_addrs = {SERVER}
            proposals = {p1}
            local {{ auth = psk }}
            remote {{ auth = psk }}
            children {{
              {name} {{
                mode = transport
                local_ts = dynamic[udp/1701]
                remote_ts = dynamic[udp/1701]
                esp_proposals = {p2}
              }}
            }}
          }}"""
        for name, (p1, p2) in PROFILES.items()
    )
    # one more connection from a second address, for which our responder holds another key
    connections += f"""
          wrongpsk {{
            version = 1
            local_addrs = {CLIENT_2}
            remote_addrs = {SERVER}
            proposals = aes256-sha1-ecp384
            local {{ auth = psk }}
            remote {{ auth = psk }}
            children {{ wrongpsk {{ mode = transport }} }}
          }}"""
    phase1 = ",".join(p1 for p1, _ in PROFILES.values())
    phase2 = ",".join(p2 for _, p2 in PROFILES.values())
    ours, log = run_charon(
        namespaces,
        tmp_path,
        f'connections {{{connections}\n}}\nsecrets {{ ike-1 {{ secret = "{PSK}" }} }}\n',
        [PSK, phase1, phase2, f"wrong_psk_peer={CLIENT_2}"] + (["force_encap"] if force_encap else []),
        [*((name, "10") for name in PROFILES), ("wrongpsk", "2")],
    )
    theirs = charon_keys(log)
    phase1 = [o for o in ours if "skeyid" in o]
    children = [o for o in ours if "keys" in o]
    assert sorted(o["suite"] for o in phase1) == sorted(p1 for p1, _ in PROFILES.values())
    assert len(children) == len(PROFILES)
    failed = [o["failed"] for o in ours if "failed" in o]
    assert len(failed) == 1 and "pre-shared key does not match (HASH_I did not verify" in failed[0]
    assert CLIENT_2 in failed[0]
    # forced: strongSwan sees itself behind NAT, floats to 4500 and asks for UDP-encapsulated transport
    assert all(o["encap"] is force_encap for o in phase1 + children)
    # strongSwan also logs the keys of the wrong-PSK attempt, which never established for us
    assert_phase1_keys(phase1, theirs, extra=1)
    child_theirs = set().union(
        *(
            theirs[f"{kind} {side} key"]
            for kind in ("encryption", "integrity")
            for side in ("initiator", "responder")
        )
    )
    assert {key for o in children for key in o["keys"]} == child_theirs


FIXTURES = Path(__file__).resolve().parents[2] / "certs" / "fixtures"
CERT_CLIENTS = ("alice", "expired", "mallory", "revoked")


@pytest.mark.parametrize("fragment_size", [1280, 576], ids=["whole", "fragmented"])
def test_certificates_with_strongswan(namespaces, tmp_path, fragment_size):
    """strongSwan authenticates with RSA signatures (certs/fixtures): alice's certificate gets in with
    phase 1 keys equal to strongSwan's, and strongSwan accepts our server certificate; the expired,
    wrong-CA and revoked ones are refused and our log names the problem.  With a 576-byte limit on
    both sides, the certificate messages travel as IKE fragments (payload 132) both ways."""
    for folder, names in (("x509", [*CERT_CLIENTS]), ("x509ca", ["ca"]), ("private", [*CERT_CLIENTS])):
        (tmp_path / folder).mkdir()
        for name in names:
            suffix = ".key" if folder == "private" else ".crt"
            shutil.copy(FIXTURES / f"{name}{suffix}", tmp_path / folder / f"{name}{suffix}")
    connections = "".join(
        f"""
          {name} {{
            version = 1
            local_addrs = {CLIENT}
            remote_addrs = {SERVER}
            proposals = aes256-sha256-modp2048
            local {{ auth = pubkey
                    certs = {name}.crt }}
            remote {{ auth = pubkey
                     id = "CN=vpn.example.com" }}
            children {{
              {name} {{
                mode = transport
                local_ts = dynamic[udp/1701]
                remote_ts = dynamic[udp/1701]
                esp_proposals = aes256-sha256
              }}
            }}
          }}"""
        for name in CERT_CLIENTS
    )
    ours, log = run_charon(
        namespaces,
        tmp_path,
        f"connections {{{connections}\n}}\n",
        [
            PSK,
            "aes256-sha256-modp2048",
            "aes256-sha256",
            f"certs={FIXTURES}",
            f"fragment_size={fragment_size}",
        ],
        [(name, "5") for name in CERT_CLIENTS],
        fragment_size,
    )
    phase1 = [o for o in ours if "skeyid" in o]
    assert [o["peer_id"] for o in ours if "peer_id" in o] == ["CN=alice"]
    assert len(phase1) == 1 and len([o for o in ours if "keys" in o]) == 1
    assert "authentication of 'CN=vpn.example.com' with RSA_EMSA_PKCS1_NULL successful" in log
    # strongSwan logs keys of every attempt; ours established only alice's
    assert_phase1_keys(phase1, charon_keys(log), extra=3)
    failed = [o["failed"] for o in ours if "failed" in o]
    assert len(failed) == 3, failed
    assert any('certificate "expired" expired on ' in f for f in failed), failed
    assert any('"mallory" was issued by an unknown CA "CN=Other VPN CA"' in f for f in failed), failed
    assert any('certificate "revoked" (serial' in f and "was revoked on" in f for f in failed), failed
    # strongSwan decrypted our hash-protected answers naming the problem
    assert log.count("received INVALID_CERTIFICATE error notify") == 2
    assert log.count("received INVALID_CERT_AUTHORITY error notify") == 1
    fragmented = fragment_size < 1280
    assert ("received fragment #" in log) is fragmented  # ours, reassembled by strongSwan
    assert ("splitting IKE message" in log) is fragmented  # theirs, reassembled by us
