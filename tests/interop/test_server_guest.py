"""A server command runs inside a real-kernel guest (the path the XFRM data plane's interop tests take)."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.interop, pytest.mark.slow, pytest.mark.timeout(240)]

# Made-up test keys: the point is that the guest kernel has ESP, which the host kernel lacks.
XFRM_STATE = ("ip xfrm state add src 203.0.113.1 dst 203.0.113.10 proto esp spi 0x1000 mode transport "
              "enc 'cbc(aes)' 0x000102030405060708090a0b0c0d0e0f "
              "auth-trunc 'hmac(sha1)' 0x000102030405060708090a0b0c0d0e0f10111213 96")


def test_command_in_server_guest_has_esp_addresses_and_env(topology):
    topo = topology("direct", 1)
    run = topo.start_server_guest(
        ["sh", "-c", f"{XFRM_STATE} && ip -o xfrm state | wc -l && ip -4 -o addr && echo mark=$MARK"],
        env={"MARK": "from-host"})
    status = run.wait(timeout=90)
    log = (run.share / "command.log").read_text()
    assert status["done"] and status["command_exit"] == 0, log
    assert "203.0.113.1/24" in log and "10.77.0.1/24" in log
    assert "mark=from-host" in log
