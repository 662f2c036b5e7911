"""tools/loadgen in its own network namespaces with three clients: they connect, ping through the
server's TUN device and disconnect; the lab (namespaces, processes) is gone afterwards."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ikel2tp.client.loadgen import percentile, profile_summary, table

ROOT = Path(__file__).resolve().parents[2]

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or not (shutil.which("ip") and shutil.which("nft") and shutil.which("taskset")
                              and os.path.exists("/dev/net/tun")),
    reason="needs root, ip, nft, taskset and /dev/net/tun (it builds network namespaces)",
)


def namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


@needs_root
@pytest.mark.timeout(60)
@pytest.mark.parametrize("nat", [False, True], ids=["direct", "behind-nat"])
def test_three_clients_connect_ping_and_leave(nat: bool) -> None:
    before = namespaces()
    args = [sys.executable, str(ROOT / "tools" / "loadgen"), "--clients", "3", "--rate", "20",
            "--hold", "0.2", "--seconds", "0.5", "--size", "200", "--json", "--time-limit", "40",
            "--phase1", "aes128-sha1-ecp256"]
    done = subprocess.run(args + (["--nat"] if nat else []), capture_output=True, text=True, timeout=55,
                          cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["connect"]["up"] == 3, result["connect"]
    assert result["connect"]["failures"] == {}
    assert result["hold"]["still_up"] == 3
    assert result["traffic"]["received"] > 0
    assert result["connect"]["server_cpu"] >= 0 and result["hold"]["server_rss_kib"] > 0
    assert result["server_exit"] == 0
    assert "connects/s achieved" in done.stdout
    assert {n for n in namespaces() - before if n.startswith("iklg")} == set()


def test_percentile() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([float(i) for i in range(100)], 99) == 98.0


def test_table_of_a_failed_run() -> None:
    text = table({"clients": 2, "phase1": "aes128-sha1-modp2048", "nat": False,
                  "connect": {"up": 0, "rate": 0.0, "p50": None, "p90": None, "p99": None,
                              "failures": {"ike-phase1": 2}, "reasons": {"not connected within 5 s": 2}}})
    assert "ike-phase1 2" in text and "0/2" in text


def test_profile_summary(tmp_path: Path) -> None:
    raw = tmp_path / "raw.txt"
    raw.write_text("main (a/x.py:1);work (a/y.py:5) 3\nmain (a/x.py:1);idle (a/z.py:9) 1\n")
    text = profile_summary(str(raw))
    assert "work (y.py)" in text and "75.0" in text
