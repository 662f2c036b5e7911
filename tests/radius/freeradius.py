"""A throw-away FreeRADIUS 3 on loopback for the interop tests: a self-contained configuration
directory (its own radiusd.conf, clients, users, modules and one virtual server), started in the
foreground and stopped by PID."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

FREERADIUS = shutil.which("freeradius") or shutil.which("radiusd")
SECRET = "ikel2tp-test-secret-7Qx"

USERS = {"alice": "alice-password", "bob": "bob-password", "carol": "carol-password"}
ALICE_ADDRESS = "10.77.0.7"
ALICE_CLASS = "ikel2tp-test-class"

_USERS_FILE = f"""\
alice	Cleartext-Password := "{USERS['alice']}"
	Framed-IP-Address = {ALICE_ADDRESS},
	Framed-Pool = "gold",
	Session-Timeout = 3600,
	Idle-Timeout = 600,
	Framed-MTU = 1400,
	Class = "{ALICE_CLASS}",
	Acct-Interim-Interval = 300,
	Reply-Message = "Hello alice"

bob	Cleartext-Password := "{USERS['bob']}"

carol	Cleartext-Password := "{USERS['carol']}", Auth-Type := Reject
	Reply-Message = "carol is disabled"
"""

_RADIUSD = """\
prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = {dir}
sbindir = /usr/sbin
logdir = {dir}
raddbdir = {dir}
radacctdir = {dir}
name = freeradius
confdir = {dir}
modconfdir = {dir}
run_dir = {dir}
db_dir = {dir}
libdir = /usr/lib/freeradius
pidfile = {dir}/radiusd.pid
max_request_time = 5
cleanup_delay = 1
max_requests = 1024
hostname_lookups = no
log {{
	destination = files
	file = {dir}/radius.log
	auth = yes
}}
security {{
	allow_core_dumps = no
	max_attributes = 200
	reject_delay = 0
	status_server = yes
}}
proxy_requests = no
client ikel2tp {{
	ipaddr = 127.0.0.1
	secret = {secret}
	require_message_authenticator = yes
}}
thread pool {{
	start_servers = 1
	max_servers = 2
	min_spare_servers = 1
	max_spare_servers = 2
}}
modules {{
	pap {{
	}}
	chap {{
	}}
	mschap {{
	}}
	files {{
		filename = {dir}/users
	}}
	detail {{
		filename = {dir}/detail
		permissions = 0600
		header = "%t"
	}}
}}
server default {{
	listen {{
		type = auth
		ipaddr = 127.0.0.1
		port = {auth_port}
	}}
	listen {{
		type = acct
		ipaddr = 127.0.0.1
		port = {acct_port}
	}}
	authorize {{
		chap
		mschap
		files
		pap
	}}
	authenticate {{
		Auth-Type PAP {{
			pap
		}}
		Auth-Type CHAP {{
			chap
		}}
		Auth-Type MS-CHAP {{
			mschap
		}}
	}}
	accounting {{
		detail
	}}
}}
"""


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class FreeRadius:
    directory: Path
    auth_port: int
    acct_port: int
    process: subprocess.Popen[bytes]

    @property
    def log(self) -> str:
        return (self.directory / "radius.log").read_text(errors="replace")

    @property
    def detail(self) -> str:
        path = self.directory / "detail"
        return path.read_text(errors="replace") if path.exists() else ""

    def detail_records(self) -> list[dict[str, str]]:
        """The detail file's records: ``Attribute = value`` lines, blank line between records."""
        records = []
        for block in self.detail.split("\n\n"):
            lines = [line.strip() for line in block.splitlines()[1:] if " = " in line]
            if lines:
                records.append({k: v.strip('"') for k, v in (line.split(" = ", 1) for line in lines)})
        return records

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(5)


def start(directory: Path) -> FreeRadius:
    """Write the configuration into ``directory`` and start FreeRADIUS; wait until it serves."""
    assert FREERADIUS is not None
    auth_port, acct_port = free_udp_port(), free_udp_port()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "users").write_text(_USERS_FILE)
    (directory / "dictionary").write_text("# test dictionary: the installed one is loaded first\n")
    (directory / "radiusd.conf").write_text(_RADIUSD.format(dir=directory, secret=SECRET,
                                                            auth_port=auth_port, acct_port=acct_port))
    output = open(directory / "stdout.log", "wb")  # noqa: SIM115 - the child holds it
    process = subprocess.Popen([FREERADIUS, "-f", "-d", str(directory), "-n", "radiusd", "-xx",
                                "-l", str(directory / "radius.log")],
                               stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    output.close()
    server = FreeRadius(directory, auth_port, acct_port, process)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"freeradius exited with {process.returncode}:\n"
                               + (directory / "stdout.log").read_text(errors="replace")[-3000:])
        with contextlib.suppress(FileNotFoundError):
            if "Ready to process requests" in server.log:
                return server
        time.sleep(0.05)
    server.stop()
    raise RuntimeError("freeradius did not become ready in 20 s:\n" + server.log[-3000:])
