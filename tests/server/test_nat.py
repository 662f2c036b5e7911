"""``[server] masquerade``: our nft table in a namespace this test makes (``unshare -n``)."""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from ikel2tp.server.nat import ruleset

NET = ipaddress.IPv4Network("10.42.0.0/24")


def test_ruleset_text():
    everywhere = ruleset(NET, "ikel2tp0", True)
    assert 'ip saddr 10.42.0.0/24 oifname != "ikel2tp0" masquerade' in everywhere
    assert everywhere.index("delete table ip ikel2tp") < everywhere.index("table ip ikel2tp {")
    assert 'oifname "eth0" masquerade' in ruleset(NET, "ikel2tp0", "eth0")


SCRIPT = textwrap.dedent(r"""
    import ipaddress, logging, subprocess
    from ikel2tp.server.nat import Masquerade

    def tables():
        return subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True).stdout

    open("/proc/sys/net/ipv4/ip_forward", "w").write("0\n")
    net = ipaddress.IPv4Network("10.42.0.0/24")
    stale = Masquerade(net, "ikel2tp0", True, logging.getLogger("t"))  # a crashed run's table ...
    again = Masquerade(net, "ikel2tp0", "eth0", logging.getLogger("t"))  # ... is replaced
    text = tables()
    assert text.count("table ip ikel2tp") == 1 and 'oifname "eth0"' in text, text
    assert open("/proc/sys/net/ipv4/ip_forward").read().strip() == "1"
    again.remove()
    assert "ikel2tp" not in tables()
    print("ok")
""")


@pytest.mark.timeout(30)
@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("nft"),
                    reason="needs root, unshare and nft")
def test_table_installed_replaced_and_removed_in_a_namespace():
    proc = subprocess.run(["unshare", "--net", sys.executable, "-c", SCRIPT], capture_output=True,
                          text=True, timeout=25)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]
