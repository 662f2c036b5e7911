"""Runs inside the qemu guest (stdlib only, started by /interop/init.sh) and drives real peers.

Roles (``role`` in /interop/config.json, written by the harness):
- ``client``: strongSwan (swanctl, IKEv1 transport) + xl2tpd LAC + pppd, then DNS, ping and iperf3 checks.
- ``reference-server``: strongSwan responder + xl2tpd LNS + pppd (MS-CHAPv2) until /interop/stop appears.
- ``command``: network and modules set up, then the given argv runs until it exits or /interop/stop appears.

Progress goes to /interop/status.json after every step: each step with start/end times and error text.
Every log stays in /interop (the harness's results directory for this guest). Files the daemons need are
written into the guest's tmpfs overlay (/etc/...), never to the host.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

SHARE = Path("/interop")
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class StepFailed(Exception):
    pass


class Agent:
    def __init__(self, config: dict) -> None:
        self.config = config
        self.status: dict = {"role": config["role"], "name": config["name"], "steps": [], "done": False,
                             "boot_seconds": _uptime()}
        self.procs: list[subprocess.Popen] = []
        self.essential: subprocess.Popen | None = None
        self.write_status()

    # -- progress -----------------------------------------------------------------------------------
    def write_status(self) -> None:
        tmp = SHARE / "status.json.tmp"
        tmp.write_text(json.dumps(self.status, indent=1))
        os.replace(tmp, SHARE / "status.json")

    def step(self, name: str, func, *args):
        entry = {"name": name, "ok": None, "started": time.time(), "finished": None, "error": None}
        self.status["steps"].append(entry)
        self.write_status()
        try:
            result = func(*args)
        except StepFailed as exc:
            entry.update(ok=False, error=str(exc), finished=time.time())
            self.write_status()
            raise
        except Exception as exc:  # the agent reports every failure as data, then powers off
            entry.update(ok=False, error=f"{type(exc).__name__}: {exc}", finished=time.time())
            self.write_status()
            raise StepFailed(str(exc)) from exc
        entry.update(ok=True, finished=time.time())
        if result is not None:
            entry["detail"] = result
        self.write_status()
        return result

    # -- helpers ------------------------------------------------------------------------------------
    def sh(self, argv: list[str], *, log: str | None = None, check: bool = True, timeout: float = 60) -> str:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        out = proc.stdout + proc.stderr
        if log:
            with open(SHARE / log, "a") as f:
                f.write(f"$ {' '.join(argv)}\n{out}\n")
        if check and proc.returncode != 0:
            raise StepFailed(f"{' '.join(argv)} exited {proc.returncode}: {out.strip()[-500:]}")
        return out

    def spawn(self, argv: list[str], log: str, env: dict | None = None) -> subprocess.Popen:
        out = open(SHARE / log, "ab")  # noqa: SIM115 - stays open for the daemon's life
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env={**os.environ, **(env or {})})
        self.procs.append(proc)
        return proc

    def wait_for(self, what: str, check, timeout: float, fail=None, interval: float = 0.25):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if fail is not None and (reason := fail()):
                raise StepFailed(reason)
            if (value := check()):
                return value
            time.sleep(interval)
        raise StepFailed(f"timed out after {timeout:.0f} s waiting for {what}")

    # -- common setup -------------------------------------------------------------------------------
    def setup_network(self) -> dict:
        self.sh(["ip", "link", "set", "lo", "up"])
        for i, nic in enumerate(self.config["nics"]):
            dev = f"eth{i}"
            self.sh(["ip", "link", "set", dev, "up"])
            self.sh(["ip", "addr", "add", nic["address"], "dev", dev])
        if gw := self.config.get("gateway"):
            self.sh(["ip", "route", "add", "default", "via", gw])
        for route in self.config.get("routes", []):
            self.sh(["ip", "route", "add", route["to"], "via", route["via"]])
        Path("/proc/sys/net/ipv4/ip_forward").write_text("1\n" if self.config.get("forward") else "0\n")
        return {"addresses": self.sh(["ip", "-4", "-o", "addr"], check=False)}

    def load_modules(self) -> None:
        failed = []
        for module in self.config["modules"]:
            proc = subprocess.run(["modprobe", module], capture_output=True, text=True, timeout=30)
            if proc.returncode != 0:
                failed.append(f"{module}: {proc.stderr.strip()}")
        if failed:
            raise StepFailed("modprobe failed: " + "; ".join(failed))

    def write_files(self) -> None:
        for path, spec in self.config.get("files", {}).items():
            p = Path(path)
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(spec["text"])
            p.chmod(int(spec.get("mode", "0644"), 8))

    def start_charon(self) -> None:
        self.spawn(["/usr/lib/ipsec/charon"], "charon.stdout")
        self.wait_for("charon's vici socket", lambda: Path("/var/run/charon.vici").exists(), 30)
        self.sh(["swanctl", "--load-all"], log="swanctl.log")

    def start_xl2tpd(self) -> None:
        Path("/var/run/xl2tpd").mkdir(parents=True, exist_ok=True)
        self.spawn(["xl2tpd", "-D", "-c", "/etc/xl2tpd/xl2tpd.conf", "-p", "/var/run/xl2tpd.pid",
                    "-C", "/var/run/xl2tpd/l2tp-control"], "xl2tpd.log")
        self.wait_for("xl2tpd's control pipe", lambda: Path("/var/run/xl2tpd/l2tp-control").exists(), 20)

    def collect_logs(self) -> None:
        for argv, log in ((["dmesg"], "dmesg.log"), (["swanctl", "--list-sas"], "swanctl-sas.log"),
                          (["ip", "xfrm", "policy"], "xfrm-policy.log"), (["ip", "addr"], "ip-addr.log"),
                          (["ip", "route"], "ip-route.log")):
            try:
                (SHARE / log).write_text(self.sh(argv, check=False, timeout=20))
            except (OSError, subprocess.SubprocessError) as exc:
                (SHARE / log).write_text(f"{exc}\n")

    def wait_stop(self, limit: float) -> None:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline and not (SHARE / "stop").exists():
            if self.essential is not None and self.essential.poll() is not None:
                break
            time.sleep(0.5)

    # -- roles --------------------------------------------------------------------------------------
    def run_client(self) -> None:
        cfg = self.config
        self.step("network", self.setup_network)
        self.step("modules", self.load_modules)
        self.write_files()
        self.step("charon", self.start_charon)
        self.step("ike_sa", self.initiate)
        self.step("child_sa", self.check_child_sa)
        self.step("xl2tpd", self.start_xl2tpd)
        self.sh(["sh", "-c", "echo 'c ikel2tp' > /var/run/xl2tpd/l2tp-control"], timeout=10)
        self.step("l2tp_tunnel", self.wait_l2tp)
        self.step("ppp_auth", self.wait_ppp_auth)
        self.step("ppp_up", self.wait_ppp_up)
        self.step("dns", self.read_dns)
        if cfg.get("barrier"):
            self.step("barrier", self.wait_for, "the harness's go", lambda: (SHARE / "go").exists(),
                      cfg["barrier_timeout"])
        if cfg.get("ping_target"):
            self.step("ping", self.ping)
        if cfg.get("iperf_seconds"):
            self.step("iperf", self.iperf)
        if cfg.get("disconnect") == "clean":
            self.step("disconnect", self.disconnect)

    def initiate(self) -> dict:
        limit = self.config["ike_timeout"]
        out = self.sh(["swanctl", "--initiate", "--child", "l2tp", "--timeout", str(limit)],
                      log="swanctl.log", check=False, timeout=limit + 15)
        sas = self.sh(["swanctl", "--list-sas"], log="swanctl.log", check=False)
        match = re.search(r"^l2tp: #\d+, (\w+), IKEv1", sas, re.M)
        if not match or match.group(1) != "ESTABLISHED":
            lines = [line for line in out.splitlines() if line.strip() and not line.startswith("plugin '")]
            hint = ""
            if "could not decrypt" in out:
                hint = " (could not decrypt the peer's messages: PSK mismatch?)"
            raise StepFailed("no ESTABLISHED IKE SA" + hint + ": " + " | ".join(lines[-3:]))
        algs = re.search(r"^\s+(\S+/\S+/\S+/\S+)\s*$", sas, re.M)
        nat_t = re.search(r"^\s+remote .* @ \S+\[4500\]$", sas, re.M)  # IKE floated to 4500: NAT-T
        return {"ike_state": match.group(1), "ike_algorithms": algs.group(1) if algs else None,
                "nat": "NAT-T" if nat_t else "none"}

    def check_child_sa(self) -> dict:
        sas = self.sh(["swanctl", "--list-sas"], log="swanctl.log", check=False)
        match = re.search(r"^\s+l2tp: #\d+, reqid \d+, (\w+), ([\w-]+), (.*)$", sas, re.M)
        if not match or match.group(1) != "INSTALLED":
            raise StepFailed("no INSTALLED CHILD SA for l2tp")
        return {"mode": match.group(2), "esp": match.group(3).strip()}

    def wait_l2tp(self) -> None:
        log = SHARE / "xl2tpd.log"
        self.wait_for("the L2TP tunnel (xl2tpd: Connection established)",
                      lambda: "Connection established to" in log.read_text(errors="replace"),
                      self.config["l2tp_timeout"], fail=lambda: _xl2tpd_failure(log))

    def wait_ppp_auth(self) -> None:
        log = SHARE / "pppd.log"

        def text() -> str:
            return log.read_text(errors="replace") if log.exists() else ""

        def failure() -> str | None:
            log_text = text()
            m = re.search(r"^(.*authentication failed.*|.*peer refused to authenticate.*|"
                          r".*No auth is possible.*|LCP terminated by peer.*)$", log_text, re.M)
            if not m:
                return None
            code = re.search(r'CHAP Failure id=\S+ "(E=\d+)', log_text)
            return f"pppd: {m.group(1).strip()}" + (f" ({code.group(1)})" if code else "")

        self.wait_for("PPP authentication (pppd: authentication succeeded)",
                      lambda: "authentication succeeded" in text(), self.config["ppp_timeout"], fail=failure)

    def wait_ppp_up(self) -> dict:
        def addr():
            out = subprocess.run(["ip", "-4", "-o", "addr", "show", "dev", "ppp0"], capture_output=True,
                                 text=True).stdout
            m = re.search(r"inet (\S+) peer (\S+?)(/\d+)?\s", out)
            return {"address": m.group(1), "peer": m.group(2)} if m else None

        result = self.wait_for("ppp0 with an address", addr, self.config["ppp_timeout"])
        self.status["assigned_address"] = result["address"]
        return result

    def read_dns(self) -> list[str]:
        resolv = Path("/etc/ppp/resolv.conf")
        try:
            self.wait_for("/etc/ppp/resolv.conf (usepeerdns)", resolv.exists, 5)
        except StepFailed:
            self.status["dns"] = []
            raise
        dns = re.findall(r"^nameserver\s+(\S+)", resolv.read_text(), re.M)
        self.status["dns"] = dns
        return dns

    def ping(self) -> dict:
        target = self.config["ping_target"]
        self.sh(["ip", "route", "replace", f"{target}/32", "dev", "ppp0"], log="ping.log")
        out = self.sh(["busybox", "ping", "-c", "3", "-W", "3", target], log="ping.log", check=False,
                      timeout=30)
        m = re.search(r"(\d+) packets transmitted, (\d+) packets received", out)
        received = int(m.group(2)) if m else 0
        self.status["ping_ok"] = received > 0
        if received == 0:
            raise StepFailed(f"no reply from {target}: {out.strip()[-300:]}")
        return {"transmitted": int(m.group(1)), "received": received}

    def iperf(self) -> float:
        target = self.config["ping_target"]
        seconds = self.config["iperf_seconds"]
        out = self.sh(["iperf3", "-c", target, "-t", str(seconds), "-J", "--connect-timeout", "5000"],
                      log="iperf3.log", timeout=seconds + 30)
        data = json.loads(out)
        mbps = data["end"]["sum_received"]["bits_per_second"] / 1e6
        self.status["iperf_mbps"] = round(mbps, 2)
        return self.status["iperf_mbps"]

    def disconnect(self) -> None:
        self.sh(["sh", "-c", "echo 'd ikel2tp' > /var/run/xl2tpd/l2tp-control"], check=False, timeout=10)
        time.sleep(1)
        self.sh(["swanctl", "--terminate", "--ike", "l2tp", "--timeout", "5"], log="swanctl.log", check=False,
                timeout=20)

    def run_reference_server(self) -> None:
        self.step("network", self.setup_network)
        self.step("modules", self.load_modules)
        self.write_files()
        self.step("charon", self.start_charon)
        self.step("xl2tpd", self.start_xl2tpd)
        self.status["ready"] = True
        self.write_status()
        self.wait_stop(self.config.get("max_seconds", 3600))

    def run_command(self) -> None:
        self.step("network", self.setup_network)
        self.step("modules", self.load_modules)
        self.write_files()
        proc = self.essential = self.spawn(self.config["argv"], "command.log", env=self.config.get("env"))
        self.status["ready"] = True
        self.write_status()
        self.wait_stop(self.config.get("max_seconds", 3600))
        self.status["command_exit"] = proc.poll()


def _xl2tpd_failure(log: Path) -> str | None:
    text = log.read_text(errors="replace")
    m = re.search(r"^.*(Maximum retries exceeded.*|StopCCN.*|Connection \d+ closed.*)$", text, re.M)
    return f"xl2tpd: {m.group(1)}" if m else None


def _uptime() -> float:
    try:
        return float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError):
        return -1.0


def main() -> None:
    os.environ["PATH"] = PATH
    config = json.loads((SHARE / "config.json").read_text())
    agent = Agent(config)
    try:
        {"client": agent.run_client, "reference-server": agent.run_reference_server,
         "command": agent.run_command}[config["role"]]()
    except StepFailed:
        pass
    except Exception as exc:  # report, never hang: the guest must power off
        agent.status["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        agent.status["finished_uptime"] = _uptime()
        agent.collect_logs()
        if config.get("disconnect") != "kill":  # "kill": power off without any daemon saying goodbye
            for proc in reversed(agent.procs):
                if proc.poll() is None:
                    proc.terminate()
        agent.status["done"] = True
        agent.write_status()
        os.sync()
        Path("/proc/sysrq-trigger").write_text("b")  # qemu runs with -no-reboot: this ends it
        sys.exit(0)


if __name__ == "__main__":
    main()
