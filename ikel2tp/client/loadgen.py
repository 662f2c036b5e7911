"""The load generator: N synthetic L2TP/IPsec clients connect at a given rate, hold, send traffic
through their PPP links and disconnect, while the server's CPU time and memory are read from
``/proc/<server pid>``.  ``tools/loadgen`` is its command line; ``tools/bench`` runs it per benchmark.

Two processes: the *driver* (this module's :func:`main`) builds the lab (:mod:`ikel2tp.client.lab`),
starts ``ikel2tp serve`` pinned to CPU 0 unless given ``--server-pid``/``--target``, and runs the
*clients* (:func:`run_clients`, ``--inner``) in the clients' namespace pinned to CPU 1; the clients
print one JSON result line the driver turns into a table.  Every phase is bounded in time; the lab
is removed (processes by PID) on exit, Ctrl-C and errors.

Traffic is ICMP echo to the server's gateway address (the far side of its TUN device): the kernel
of the server's namespace answers, so every packet crosses ESP → L2TP → PPP → TUN and back.
``--pps 0`` runs closed-loop: at most ``--window`` echoes outstanding, as fast as they return.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from ikel2tp.client.driver import ClientConfig, ClientPool
from ikel2tp.client.lab import Lab, client_addresses, sample
from ikel2tp.client.packets import echo_request
from ikel2tp.client.session import ClientSession, State
from ikel2tp.ppp.settings import PppSettings

PSK = "loadgen-pre-shared-key-0123456789"
USER, PASSWORD = "bench", "bench-password-0123"
log = logging.getLogger("ikel2tp.loadgen")


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


class Meter:
    """Server CPU seconds and RSS over a phase (None when no server PID is known)."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        self.start = sample(pid) if pid else None
        self.client_cpu = time.process_time()
        self.wall = time.monotonic()

    def done(self) -> dict:
        out = {"seconds": time.monotonic() - self.wall, "client_cpu": time.process_time() - self.client_cpu}
        if self.pid and self.start is not None:
            end = sample(self.pid)
            out.update(server_cpu=end.cpu - self.start.cpu, server_rss_kib=end.rss_kib,
                       server_waited=end.waited - self.start.waited)
        return out


# -- the clients' process -----------------------------------------------------------------------------
async def connect_phase(pool: ClientPool, sessions: list[ClientSession], rate: float, concurrency: int,
                        timeout: float) -> None:
    """Start connects ``rate`` per second (0: no pacing), at most ``concurrency`` at a time (0: no
    limit), then wait until each is up or failed."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    for n, session in enumerate(sessions):
        due = start + n / rate if rate > 0 else start
        if due > loop.time():
            await asyncio.sleep(due - loop.time())
        while concurrency > 0 and pool.connecting() >= concurrency:
            await pool.changed(1.0)
        pool.connect(session)
        if rate <= 0 and n % 16 == 15:
            await asyncio.sleep(0)
    await pool.wait_done(sessions, timeout)


async def traffic_phase(pool: ClientPool, sessions: list[ClientSession], seconds: float, size: int,
                        pps: float, window: int) -> dict:
    """Echo requests round-robin over the up sessions; replies counted by the sessions.  Closed loop
    (``pps`` 0): at most ``window`` outstanding, refilled as replies arrive."""
    up = [s for s in sessions if s.state is State.UP]
    if not up or seconds <= 0:
        return {}
    loop = asyncio.get_running_loop()
    packets = {s.index: echo_request(s.address, s.gateway, size, sequence=s.index) for s in up}
    counts = {"sent": 0, "received": 0}
    room = asyncio.Event()

    def answered(session: ClientSession, packet: bytes) -> None:
        counts["received"] += 1
        if counts["sent"] - counts["received"] <= window // 2:
            room.set()

    for session in up:
        session.on_packet = answered
    start = loop.time()
    end = start + seconds
    turn = 0
    while (now := loop.time()) < end:
        if pps > 0:
            quota = int((now - start) * pps) - counts["sent"]
        else:
            quota = window - (counts["sent"] - counts["received"])
        for _ in range(max(0, quota)):
            session = up[turn % len(up)]
            turn += 1
            pool.send_ip(session, packets[session.index])
            counts["sent"] += 1
        if pps > 0:
            await asyncio.sleep(0.002)
        else:
            room.clear()
            try:
                await asyncio.wait_for(room.wait(), 0.05)  # a lost echo must not stall the loop
            except TimeoutError:
                counts["sent"] = counts["received"] + window // 2  # write the losses off
    elapsed = loop.time() - start
    received = counts["received"]
    await asyncio.sleep(0.3)  # let the last replies drain before the next phase
    for session in up:
        session.on_packet = None
    sent = sum(s.traffic.sent for s in up)
    return {"sent": sent, "received": received, "size": size, "elapsed": elapsed,
            "pps": received / elapsed, "mbit": received * size * 8 / elapsed / 1e6}


async def run_clients(args: argparse.Namespace) -> dict:
    loop = asyncio.get_running_loop()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, 4 * args.clients + 256))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    ppp = PppSettings(echo_interval=args.lcp_echo)
    config = ClientConfig(server=args.target, psk=args.psk.encode(), user=args.user, password=args.password,
                          phase1=tuple(args.phase1.split(",")), phase2=tuple(args.phase2.split(",")),
                          connect_timeout=args.connect_timeout, ppp=ppp)
    pool = ClientPool(loop, config, log=logging.getLogger("ikel2tp.client"))
    result: dict = {"clients": args.clients, "phase1": args.phase1, "nat": args.nat}
    try:
        sessions = [pool.add(address) for address in args.sources]
        pid = args.server_pid
        result["server_rss_start_kib"] = sample(pid).rss_kib if pid else None
        meter = Meter(pid)
        await connect_phase(pool, sessions, args.rate, args.concurrency, args.connect_timeout)
        result["connect"] = meter.done()
        times = [s.connect_time for s in sessions if s.connect_time is not None]
        starts = [s.started for s in sessions if s.started is not None]
        ends = [s.started + s.connect_time for s in sessions if s.connect_time is not None]
        result["connect"].update(
            up=len(times), p50=percentile(times, 50), p90=percentile(times, 90), p99=percentile(times, 99),
            rate=len(times) / (max(ends) - min(starts)) if times else 0.0,
            failures=dict(Counter(s.failure[0].value for s in sessions if s.failure)),
            reasons=dict(Counter(s.failure[1] for s in sessions if s.failure).most_common(3)))
        if args.hold > 0:
            meter = Meter(pid)
            await asyncio.sleep(args.hold)
            result["hold"] = meter.done()
            result["hold"]["still_up"] = sum(s.state is State.UP for s in sessions)
        meter = Meter(pid)
        traffic = await traffic_phase(pool, sessions, args.seconds, args.size, args.pps, args.window)
        if traffic:
            result["traffic"] = {**meter.done(), **traffic}
        meter = Meter(pid)
        for session in sessions:
            if session.state is State.UP:
                pool.disconnect(session)
        await asyncio.sleep(0.5)
        result["disconnect"] = meter.done()
    finally:
        pool.close()
    return result


# -- the table ----------------------------------------------------------------------------------------
def _fmt(value: float | None, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def table(result: dict) -> str:
    c = result.get("connect", {})
    lines = [f"clients {result['clients']}  phase1 {result['phase1']}  "
             f"{'behind one NAT address' if result.get('nat') else 'one address each'}"]
    rows = [("connected", f"{c.get('up', 0)}/{result['clients']}"),
            ("connects/s achieved", _fmt(c.get("rate"))),
            ("connect latency p50/p90/p99 ms", "/".join(_fmt(c.get(k) and c[k] * 1000, ".0f")
                                                        for k in ("p50", "p90", "p99"))),
            ("failures by step", ", ".join(f"{k} {v}" for k, v in c.get("failures", {}).items()) or "none")]
    if c.get("reasons"):
        rows.append(("most common failure", "; ".join(c["reasons"])[:100]))
    if c.get("server_cpu") is not None:
        per = c["server_cpu"] / c["up"] * 1000 if c.get("up") else None
        rows += [("server CPU s (connect phase)", _fmt(c["server_cpu"], ".2f")),
                 ("server CPU ms per connect", _fmt(per, ".2f")),
                 ("connects per server CPU-second", _fmt(1000 / per if per else None)),
                 ("client CPU s (connect phase)", _fmt(c["client_cpu"], ".2f")),
                 ("server s runnable but waiting for a CPU", _fmt(c.get("server_waited"), ".2f"))]
    if result.get("server_rss_start_kib"):
        rows.append(("server RSS at start MiB", _fmt(result["server_rss_start_kib"] / 1024)))
    h = result.get("hold")
    if h:
        rows += [("hold s / still up", f"{h['seconds']:.1f} / {h['still_up']}")]
        if h.get("server_cpu") is not None:
            rows += [("server CPU % while holding", _fmt(100 * h["server_cpu"] / h["seconds"], ".2f")),
                     ("server RSS while holding MiB", _fmt(h["server_rss_kib"] / 1024))]
            start = result.get("server_rss_start_kib")
            if start and h["still_up"]:
                rows.append(("RSS per session KiB", _fmt((h["server_rss_kib"] - start) / h["still_up"])))
    t = result.get("traffic")
    if t:
        rows += [("traffic packets sent/answered", f"{t['sent']}/{t['received']}"),
                 (f"echo round trips/s ({t['size']} B)", _fmt(t["pps"], ".0f")),
                 ("data Mbit/s (answered, one way)", _fmt(t["mbit"], ".2f"))]
        rows.append(("client CPU % during traffic", _fmt(100 * t["client_cpu"] / t["seconds"])))
        if t.get("server_cpu") is not None:
            pct = 100 * t["server_cpu"] / t["seconds"]
            per_cpu = t["received"] * 2 / t["server_cpu"] if t["server_cpu"] else None
            rows += [("server CPU % during traffic", _fmt(pct)),
                     ("server packets per CPU-second (both ways)", _fmt(per_cpu, ".0f")),
                     ("server Mbit/s per CPU-second (both ways)",
                      _fmt(per_cpu and per_cpu * t["size"] * 8 / 1e6, ".1f"))]
    width = max(len(k) for k, _ in rows)
    lines += [f"  {k:<{width}}  {v}" for k, v in rows]
    return "\n".join(lines)


def profile_summary(path: str, top: int = 15) -> str:
    """Self and inclusive share of samples per function from py-spy's raw (collapsed) stacks."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in Path(path).read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame(f) for f in stack.split(";")]
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        return "no samples"
    width = max(len(name) for name, _ in own.most_common(top))
    lines = [f"{'function (self time)':<{width}}  self%  incl%"]
    lines += [f"{name:<{width}}  {100 * n / total:5.1f}  {100 * inclusive[name] / total:5.1f}"
              for name, n in own.most_common(top)]
    return "\n".join(lines)


def _frame(text: str) -> str:
    """``func (path/to/file.py:123)`` -> ``func (file.py)``."""
    name, _, where = text.partition(" (")
    return f"{name} ({where.rsplit('/', 1)[-1].split(':', 1)[0].rstrip(')')})" if where else name


# -- the command line ---------------------------------------------------------------------------------
def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tools/loadgen", description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=10, help="how many clients (bounded by --max-clients)")
    p.add_argument("--max-clients", type=int, default=5000)
    p.add_argument("--rate", type=float, default=20.0, help="connects started per second (0: all at once)")
    p.add_argument("--concurrency", type=int, default=0, help="clients connecting at once at most (0: any)")
    p.add_argument("--nat", action="store_true", help="all clients behind one masquerading router")
    p.add_argument("--hold", type=float, default=2.0, help="seconds to hold the sessions idle")
    p.add_argument("--seconds", type=float, default=3.0, help="seconds of traffic (0: none)")
    p.add_argument("--size", type=int, default=1400, help="IP packet size of the echoes (28..1400)")
    p.add_argument("--pps", type=float, default=0.0, help="echo requests per second in all (0: closed loop)")
    p.add_argument("--window", type=int, default=256, help="closed loop: echoes outstanding at most")
    p.add_argument("--phase1", default="aes128-sha1-modp2048", help="phase 1 proposal(s), comma-separated")
    p.add_argument("--phase2", default="aes128-sha1")
    p.add_argument("--connect-timeout", type=float, default=30.0)
    p.add_argument("--lcp-echo", type=float, default=30.0, help="client LCP echo interval (0: off)")
    p.add_argument("--psk", default=PSK)
    p.add_argument("--user", default=USER)
    p.add_argument("--password", default=PASSWORD)
    p.add_argument("--server-pid", type=int, help="measure this running server (with --target)")
    p.add_argument("--target", help="the server's address (with --server-pid: no lab is built)")
    p.add_argument("--sources", nargs="*", help="client source addresses (default: from the lab)")
    p.add_argument("--json", action="store_true", help="print the result as JSON after the table")
    p.add_argument("--time-limit", type=float, default=600.0, help="the whole run is stopped after this")
    p.add_argument("--server-log-level", default="warning")
    p.add_argument("--profile", metavar="FILE", help="sample the server with py-spy into FILE (raw stacks)")
    p.add_argument("--verbose", action="store_true")
    p.add_argument("--softether", action="store_true",
                   help="run Debian's SoftEther VPN Server (softether-vpnserver) instead of ikel2tp")
    p.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    return p


def _inner_argv(args: argparse.Namespace, server_pid: int, sources: list[str], target: str) -> list[str]:
    argv = [sys.executable, "-m", "ikel2tp.client.loadgen", "--inner", "--server-pid", str(server_pid),
            "--target", target, "--sources", *sources]
    for name in ("clients", "rate", "concurrency", "hold", "seconds", "size", "pps", "window", "phase1",
                 "phase2", "connect_timeout", "lcp_echo", "psk", "user", "password"):
        argv += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    if args.nat:
        argv.append("--nat")
    if args.verbose:
        argv.append("--verbose")
    return argv


def drive(args: argparse.Namespace) -> dict:
    """Build the lab, start the server, run the clients' process; always clean up."""
    workdir = Path(tempfile.mkdtemp(prefix="ikel2tp-loadgen-"))
    lab = Lab(workdir, nat=args.nat)

    def interrupted(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupted)
    try:
        sources = client_addresses(args.clients, args.nat)
        lab.build(sources)
        if args.softether:
            pid = lab.start_softether(psk=args.psk, user=args.user, password=args.password)
        else:
            pid = lab.start_server(clients=args.clients, psk=args.psk, user=args.user, password=args.password,
                                   log_level=args.server_log_level)
        sampler = None
        if args.profile:
            sampler = lab.track(subprocess.Popen(
                ["py-spy", "record", "--pid", str(pid), "--format", "raw", "--output", args.profile,
                 "--rate", "200", "--gil"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        inner = lab.spawn(_inner_argv(args, pid, sources, lab.server_ip), stdout=-1, text=True,
                          cwd=Path(__file__).resolve().parents[2])
        try:
            out, _ = inner.communicate(timeout=args.time_limit)
        except Exception:
            inner.kill()
            raise
        finally:
            if sampler is not None and sampler.poll() is None:
                sampler.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
                sampler.wait(30)
        if inner.returncode != 0:
            raise RuntimeError(f"the clients' process failed (exit {inner.returncode})")
        result = json.loads(out.strip().splitlines()[-1])
        result["server_exit"] = lab.stop_server()
        result["server"] = "softether" if args.softether else "ikel2tp"
        return result
    finally:
        signal.signal(signal.SIGTERM, previous)
        lab.close()
        for path in sorted(workdir.rglob("*"), reverse=True):
            path.unlink() if not path.is_dir() else path.rmdir()
        workdir.rmdir()


def main(argv: list[str] | None = None) -> dict:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(name)s: %(message)s")
    if not 1 <= args.clients <= args.max_clients:
        raise SystemExit(f"--clients must be 1..{args.max_clients}")
    if not 28 <= args.size <= 1400:
        raise SystemExit("--size must be 28..1400")
    if args.inner or args.target:
        if not args.sources:
            raise SystemExit("--target needs --sources (the client addresses to bind)")
        args.sources = args.sources[: args.clients]
        args.clients = len(args.sources)
        result = asyncio.run(asyncio.wait_for(run_clients(args), args.time_limit))
        if args.inner:
            print(json.dumps(result))
            return result
    else:
        if os.geteuid() != 0:
            raise SystemExit("tools/loadgen builds network namespaces: run it as root")
        result = drive(args)
    print(table(result))
    if args.profile and os.path.exists(args.profile):
        print(profile_summary(args.profile))
    if args.json:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
