"""``[server] masquerade``: an nftables table of our own that NATs client traffic to the LAN/internet.

The table ``ip ikel2tp`` holds one postrouting rule: packets from the pool leaving by any interface
but the TUN (``masquerade = true``) or by the named interface (``masquerade = "eth0"``) get the
outgoing interface's address.  It is installed at start-up, replaced if a crashed run left it, and
deleted on exit.  IPv4 forwarding (``net.ipv4.ip_forward``) is switched on when it is off, because
masquerading is useless without it; that is logged, and left on at exit.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import shutil
import subprocess

TABLE = "ikel2tp"
FORWARD_SYSCTL = "/proc/sys/net/ipv4/ip_forward"


class NatError(OSError):
    """The nftables table could not be installed."""


def ruleset(pool: ipaddress.IPv4Network, tun_name: str, masquerade: bool | str) -> str:
    """The ``nft -f`` script that (re)creates our table."""
    match = f'oifname != "{tun_name}"' if masquerade is True else f'oifname "{masquerade}"'
    return (
        f"table ip {TABLE}\n"
        f"delete table ip {TABLE}\n"
        f"table ip {TABLE} {{\n"
        "  chain postrouting {\n"
        "    type nat hook postrouting priority srcnat; policy accept;\n"
        f"    ip saddr {pool} {match} masquerade\n"
        "  }\n"
        "}\n"
    )


class Masquerade:
    """The installed table; :meth:`remove` deletes it."""

    def __init__(self, pool: ipaddress.IPv4Network, tun_name: str, masquerade: bool | str,
                 log: logging.Logger) -> None:
        self._log = log
        self._nft = shutil.which("nft") or next(
            (p for p in ("/usr/sbin/nft", "/sbin/nft") if os.path.exists(p)), None)
        if self._nft is None:
            raise NatError("server.masquerade needs the nft command (Debian: apt-get install nftables)")
        self._run(ruleset(pool, tun_name, masquerade))
        self.installed = True
        where = "every interface but " + tun_name if masquerade is True else str(masquerade)
        log.info("masquerade: nft table ip %s NATs %s leaving by %s", TABLE, pool, where)
        self._enable_forwarding()

    def _run(self, script: str) -> None:
        proc = subprocess.run([self._nft, "-f", "-"], input=script, capture_output=True, text=True,
                              timeout=10)
        if proc.returncode != 0:
            raise NatError(f"nft refused the masquerade table: {proc.stderr.strip()}")

    def _enable_forwarding(self) -> None:
        try:
            with open(FORWARD_SYSCTL) as current:
                if current.read().strip() == "1":
                    return
            with open(FORWARD_SYSCTL, "w") as out:
                out.write("1\n")
            self._log.warning("masquerade: switched on net.ipv4.ip_forward (it was off)")
        except OSError as exc:
            self._log.error("masquerade: cannot switch on net.ipv4.ip_forward: %s; clients will not "
                            "reach anything beyond this server", exc)

    def remove(self) -> None:
        if not self.installed:
            return
        self.installed = False
        try:
            self._run(f"delete table ip {TABLE}\n")
        except (NatError, subprocess.TimeoutExpired) as exc:
            self._log.error("masquerade: could not delete nft table ip %s: %s", TABLE, exc)
            return
        self._log.info("masquerade: nft table ip %s removed", TABLE)
