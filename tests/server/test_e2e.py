"""``ikel2tp serve`` as a subprocess in a network namespace this test makes (``unshare --net``: the
namespace, the server, its TUN device and every socket go when the script exits), with our own
IKEv1 initiator + userspace ESP-in-UDP + L2TP LAC + PPP client (tests/server/e2e.py) against it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("unshare") or not os.path.exists("/dev/net/tun"),
    reason="needs root, unshare and /dev/net/tun",
)


def run_e2e(mode: str, workdir: Path) -> tuple[dict, str]:
    command = ["unshare", "--net", sys.executable, "-m", "tests.server.e2e", str(workdir), mode]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=80)
    except subprocess.TimeoutExpired:
        proc.kill()  # by PID; the namespace dies with it
        out, err = proc.communicate()
    server_log = (workdir / "server.log").read_text() if (workdir / "server.log").exists() else ""
    assert proc.returncode == 0 and out.strip(), f"{err[-3000:]}\n--- server ---\n{server_log[-3000:]}"
    return json.loads(out.strip().splitlines()[-1]) | {"mode": mode}, server_log


@pytest.fixture(scope="module", params=["natt", "raw"])
def run(request, tmp_path_factory):
    """One run per ESP path: ESP in UDP 4500 (forced, as behind NAT) and plain ESP (IP protocol 50)."""
    return run_e2e(request.param, tmp_path_factory.mktemp(f"e2e-{request.param}"))


@pytest.mark.timeout(90)
def test_ip_packet_crosses_the_tun(run):
    result, server_log = run
    assert "error" not in result, (result, server_log[-3000:])
    encap = result["mode"] == "natt"
    assert result["steps"][:6] == ["IKE phase 1 (aes256-sha1-ecp384)", f"IKE phase 2 (encap={encap})",
                                   "L2TP SCCRP", "L2TP ICRP", "IPCP address 10.77.0.2",
                                   "ICMP echo reply through the TUN"]
    assert "10.77.0.2 proto static scope link src 10.77.0.1" in result["route"]


@pytest.mark.timeout(90)
def test_status_shows_the_session(run):
    result, _ = run
    (row,) = result["status"]
    assert row["user"] == "alice" and row["address"] == "10.77.0.2"
    assert row["nat"] is (result["mode"] == "natt")
    assert row["phase1"] == "aes256-sha1-ecp384" and row["phase2"] == "aes256-sha1"
    assert row["bytes_in"] > 0 and row["bytes_out"] > 0 and row["state"] == "IPCP up"


@pytest.mark.timeout(90)
def test_a_second_server_refuses_to_start(run):
    result, _ = run
    assert result["second"]["exit"] == 1
    assert "cannot listen on UDP 127.0.0.1:500" in result["second"]["stderr"]
    assert result["after_reload"] and result["after_reload"][0]["user"] == "alice"  # first one still serves


@pytest.mark.timeout(90)
def test_sighup_reloads_without_dropping_the_session(run):
    result, server_log = run
    assert [row["address"] for row in result["after_reload"]] == ["10.77.0.2"]
    assert "reloaded 2 user(s)" in server_log


@pytest.mark.timeout(90)
def test_a_broken_reload_is_refused(run):
    result, server_log = run
    answer = result["bad_reload"]
    assert answer["ok"] is False and "reload refused" in answer["error"] and "bogus" in answer["error"]


@pytest.mark.timeout(90)
def test_kick_disconnects_the_user(run):
    result, server_log = run
    if result["mode"] != "raw":
        pytest.skip("the natt run keeps its session for the SIGTERM goodbye")
    assert result["kick"]["exit"] == 0 and "kicked 1" in result["kick"]["stdout"]
    assert "PPP down: peer sent LCP Terminate-Request" in result["steps_after_kick"]
    assert all(row["user"] is None for row in result["after_kick"])  # no session (IKE may linger)
    assert "kicked by the administrator" in server_log


@pytest.mark.timeout(90)
def test_sigterm_says_goodbye_and_cleans_up(run):
    result, server_log = run
    assert result["exit"] == 0 and "killed" not in result
    steps = result["steps"]
    if result["mode"] == "natt":  # the raw run's session was kicked before
        assert "PPP down: peer sent LCP Terminate-Request" in steps and "L2TP StopCCN" in steps
    port = 4500 if result["mode"] == "natt" else 500
    assert f"IKE SA with 127.0.0.2:{port} (IKE SA #1) deleted: shutting down" in server_log
    assert "ikel2tp-e2e" not in result["links_after"]
    for secret in ("e2e-pre-shared-key", "alice-e2e-password"):
        assert secret not in server_log


@pytest.mark.timeout(90)
def test_plaintext_l2tp_lab_mode(tmp_path):
    """``[l2tp] require_ipsec = false``: L2TP straight on UDP 1701, no IKE, for labs and tests."""
    result, server_log = run_e2e("plain", tmp_path)
    assert result["steps"][:4] == ["L2TP SCCRP", "L2TP ICRP", "IPCP address 10.77.0.2",
                                   "ICMP echo reply through the TUN"]
    (row,) = result["status"]
    assert row["peer"] == "127.0.0.2:1701" and row["user"] == "alice" and row["phase1"] == ""
    assert "PLAINTEXT L2TP" in server_log and result["exit"] == 0


@pytest.fixture(scope="module")
def refused(tmp_path_factory):
    return run_e2e("refused", tmp_path_factory.mktemp("e2e-refused"))


@pytest.mark.timeout(90)
def test_proposals_last_explains_each_refusal(refused):
    """A wrong PSK, a phase 1 hash and a phase 2 integrity mismatch against ``ikel2tp serve``: the
    server keeps one plain-words line each and ``ikel2tp proposals last [PEER]`` shows them."""
    result, server_log = refused
    texts = {r["peer"]: r["text"] for r in result["refusals"]}
    assert texts["127.0.0.3"].startswith("phase 1 failed: the pre-shared key does not match")
    assert texts["127.0.0.4"].startswith("phase 1 refused: hash: client md5, server sha256; "
                                         'fix: add "aes256-md5-modp2048" to [ike] phase1')
    assert texts["127.0.0.5"].startswith("phase 2 refused: integrity: client md5, server sha1; "
                                         'fix: add "aes128-md5" to [ike] phase2')
    last = result["last"]
    assert last["exit"] == 0 and all(f"UTC  {peer}  {text}" in last["stdout"] for peer, text in texts.items())
    only = result["last_phase1"]
    assert only["exit"] == 0 and only["stdout"].count("\n") == 1 and "127.0.0.4" in only["stdout"]
    assert texts["127.0.0.5"] in server_log  # the same line in the client's timeline
    assert result["exit"] == 0


@pytest.mark.timeout(90)
def test_exported_ike_keys_decrypt_phase_2_of_a_capture(refused):
    """``serve --export-ike-keys``: a 0600 decryption table holding the client's ISAKMP SA, and
    ``proposals explain --decrypt`` reads the refused Quick Mode of the client's capture with it."""
    result, server_log = refused
    assert result["keys_mode"] == "0o600"
    ((cookie, key),) = result["client_sas"]
    assert result["keys"] == f'"{cookie}","{key}"\n'  # only the SA that reached phase 1
    assert "DEBUG: exporting every IKE SA's encryption key" in server_log and key not in server_log
    explain = result["explain"]
    assert explain["exit"] == 1, explain
    assert "phase 1: established (aes256-sha1-ecp384)" in explain["stdout"]
    assert ("phase 2 refused: integrity: client md5, server sha1; "
            'fix: add "aes128-md5" to [ike] phase2') in explain["stdout"]
