"""ESP data-plane benchmark: our ESP layer beside the bare ``cryptography`` cost of the same cipher and
HMAC, measured in the same run, and a socket-to-socket row over loopback.

    python tools/bench_esp.py [--size 1400] [--seconds 1] [--suites aes128-sha1,aes128gcm16]

Measured on core 0 (the socket rows' sender runs in a child process on the last core) in packets
per CPU-second of this process (user + system time), so other processes on a shared machine do not
count against us; crypto figures are the best of five interleaved windows (see :func:`best_rates`).
Columns:

* ``enc`` / ``dec``: our :class:`~ikel2tp.esp.sa.EspSa` ``protect`` / ``unprotect`` (replay window,
  padding check, counters included) in packets/s and Mbit/s of payload.
* ``bare``: the least work plain ``cryptography`` code can do for the same packet (:func:`bare`): one
  running CBC encryptor/decryptor (the IV-block trick of :mod:`ikel2tp.esp.transforms`) and a copied
  HMAC, or one ``AESGCM``; the header and GCM nonce built per packet and, on decrypt, nonce, AAD,
  ciphertext and ICV sliced out of the real packet.  Ours and bare read the same ring of packets
  through the same harness (:func:`over_ring`).  ``ratio`` = ours / bare.  ``new-ctx`` is the bare
  encrypt cost with a cipher object made per packet (the naive way), for reference.
* socket rows: a child process on another core blasts pre-built ESP-in-UDP datagrams at a
  loopback socket (``offered``: how many it managed to send per second); this process drains the
  socket with an ``add_reader`` callback and runs ``receive_udp_esp`` up to the L2TP callback
  (``recv``: datagrams delivered per CPU-second of the receiver, recvfrom included).  ``in-proc``:
  the same receive path (classify, ``receive_udp_esp``, L2TP callback) fed from memory.
  ``send``: ``send_l2tp`` (UDP header, ESP, ``sendto``) in a loop.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import multiprocessing
import os
import socket
import struct
import sys
import time
from collections.abc import Callable
from hmac import compare_digest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cryptography  # noqa: E402
from cryptography.exceptions import InvalidTag  # noqa: E402
from cryptography.hazmat.primitives import hmac as chmac  # noqa: E402
from cryptography.hazmat.primitives.ciphers import Cipher, modes  # noqa: E402
from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402

from ikel2tp.dataplane.userspace import UserspaceDataPlane, add_drain_reader  # noqa: E402
from ikel2tp.esp.packet import ESP_HEADER, NattKind, classify_natt, push_udp, trailer  # noqa: E402
from ikel2tp.esp.replay import ReplayWindow  # noqa: E402
from ikel2tp.esp.sa import EspSa  # noqa: E402
from ikel2tp.esp.transforms import CIPHERS, INTEGRITY, make_transform  # noqa: E402
from ikel2tp.ike.events import ChildSaKeys  # noqa: E402
from ikel2tp.ike.suites import parse_phase2  # noqa: E402

DEFAULT_SUITES = ("aes128-sha1", "aes256-sha1", "aes128-sha256", "aes256-sha512", "aes128-md5",
                  "3des-sha1", "aes128gcm16", "aes256gcm16")


def rate(fn: Callable[[], object], seconds: float, batch: int = 200) -> float:
    """Calls per CPU-second of ``fn`` over about ``seconds`` of CPU time (user + system of this process:
    on a shared machine wall time would count other processes' turns as ours)."""
    calls, start = 0, time.process_time()
    while True:
        for _ in range(batch):
            fn()
        calls += batch
        elapsed = time.process_time() - start
        if elapsed >= seconds:
            return calls / elapsed


def best_rates(fns: list[Callable[[], object]], seconds: float, rounds: int = 5) -> list[float]:
    """Best rate of each function over ``rounds`` interleaved windows: on a shared machine the best
    window is the one least disturbed, and interleaving exposes ours and bare to the same load."""
    best = [0.0] * len(fns)
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            best[i] = max(best[i], rate(fn, seconds / rounds))
    return best


def key_material(suite: str) -> tuple[str, bytes, str | None, bytes]:
    p2 = parse_phase2(suite)
    spec = CIPHERS[p2.cipher]
    enc = os.urandom(p2.key_bits // 8 + spec.salt)
    auth = os.urandom(INTEGRITY[p2.integrity].key_bytes) if p2.integrity else b""
    return p2.cipher, enc, p2.integrity, auth


def make_sa(cipher, enc, integrity, auth, spi_in, spi_out) -> EspSa:
    return EspSa(spi_in=spi_in, spi_out=spi_out, inbound=make_transform(cipher, enc, integrity, auth),
                 outbound=make_transform(cipher, enc, integrity, auth), now=0.0)


def over_ring(fn: Callable[[bytes], object], ring: list[bytes],
              restart: Callable[[], None] | None = None) -> Callable[[], None]:
    """A no-argument step feeding ``fn`` the next item of ``ring``: ours and bare run in this same
    harness, so its cost falls on both sides of the ratio.  ``restart`` runs when the ring wraps."""
    cursor = [0]

    def step() -> None:
        i = cursor[0]
        if i == len(ring):
            if restart is not None:
                restart()
            i = 0
        fn(ring[i])
        cursor[0] = i + 1
    return step


def bare(cipher: str, enc: bytes, integrity: str | None, auth: bytes, spi: int):
    """(encrypt, decrypt, encrypt-with-new-context) doing only what plain ``cryptography`` code must do
    per packet, with the best object reuse there is: encrypt takes the padded plaintext and makes the
    header (and GCM nonce) of the next sequence number; decrypt takes a real packet and slices the
    nonce, AAD, ciphertext and ICV out of it, verifies (HMAC first for CBC) and decrypts.  No replay
    window, padding check or counters: those are the ESP layer's work the ratio is about."""
    header_pack, iv_pack = ESP_HEADER.pack, struct.Struct("!Q").pack
    sequence = itertools.count(1)
    if cipher == "aes-gcm":
        aead, salt = AESGCM(enc[:-4]), enc[-4:]
        encrypt, decrypt = aead.encrypt, aead.decrypt

        def enc_gcm(plain: bytes) -> bytes:
            n = next(sequence)
            header, iv = header_pack(spi, n), iv_pack(n)
            return header + iv + encrypt(salt + iv, plain, header)

        def dec_gcm(packet: bytes) -> bytes:
            try:
                return decrypt(salt + packet[8:16], packet[16:], packet[:8])
            except InvalidTag:
                raise SystemExit("bench: GCM reference failed") from None

        def new_gcm(plain: bytes) -> bytes:
            n = next(sequence)
            header, iv = header_pack(spi, n), iv_pack(n)
            return header + iv + AESGCM(enc[:-4]).encrypt(salt + iv, plain, header)
        return enc_gcm, dec_gcm, new_gcm
    spec, mac_spec = CIPHERS[cipher], INTEGRITY[integrity]
    block, icv = spec.block, mac_spec.icv
    ctx = Cipher(spec.algorithm(enc), modes.CBC(os.urandom(block)))
    encrypt, decrypt = ctx.encryptor().update, ctx.decryptor().update
    mac_copy = chmac.HMAC(auth, mac_spec.hash()).copy
    urandom = os.urandom

    def enc_cbc(plain: bytes) -> bytes:
        packet = header_pack(spi, next(sequence)) + encrypt(urandom(block) + plain)
        h = mac_copy()
        h.update(packet)
        return packet + h.finalize()[:icv]

    def dec_cbc(packet: bytes) -> bytes:
        end = len(packet) - icv
        h = mac_copy()
        h.update(packet[:end])
        if not compare_digest(h.finalize()[:icv], packet[end:]):
            raise SystemExit("bench: CBC reference failed")
        return decrypt(packet[8:end])

    def new_cbc(plain: bytes) -> bytes:
        e = Cipher(spec.algorithm(enc), modes.CBC(urandom(block))).encryptor()
        packet = header_pack(spi, next(sequence)) + e.update(plain)
        h = mac_copy()
        h.update(packet)
        return packet + h.finalize()[:icv]
    return enc_cbc, dec_cbc, new_cbc


def crypto_row(suite: str, size: int, seconds: float) -> tuple:
    """(suite, ours enc, bare enc, ours dec, bare dec, new-context enc) in packets/s."""
    payload = os.urandom(size)
    cipher, enc, integrity, auth = key_material(suite)
    sender = make_sa(cipher, enc, integrity, auth, 1, 2)
    receiver = make_sa(cipher, enc, integrity, auth, 2, 1)
    block = CIPHERS[cipher].block
    plain = payload + trailer(size, 17, block)
    b_enc, b_dec, b_new = bare(cipher, enc, integrity, auth, 2)
    # A small ring stays in cache like a packet just copied in by recvfrom; both sides read it.
    packets = [sender.protect(payload) for _ in range(64)]

    def new_window() -> None:  # reuse the ring: a fresh window accepts it again
        receiver.replay = ReplayWindow(receiver.replay.size)
    assert b_dec(packets[0]) and receiver.unprotect(packets[0])[1] == payload
    new_window()
    ours_enc, bare_enc, dec, bare_dec, new_ctx = best_rates(
        [over_ring(sender.protect, [payload]), over_ring(b_enc, [plain]),
         over_ring(receiver.unprotect, packets, new_window), over_ring(b_dec, packets),
         over_ring(b_new, [plain])], seconds)
    return suite, ours_enc, bare_enc, dec, bare_dec, new_ctx


def _blast(port: int, packets: list[bytes], seconds: float, ready, offered) -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {os.cpu_count() - 1})  # the sender's own core; the receiver is on core 0
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    ready.set()
    start = time.perf_counter()
    end = start + seconds
    n = len(packets)
    i = 0
    while time.perf_counter() < end:
        for _ in range(64):
            try:
                sock.sendto(packets[i % n], ("127.0.0.1", port))
            except OSError:
                pass
            i += 1
    offered.value = i / (time.perf_counter() - start)


def keys_for(suite: str, spi_in: int, spi_out: int, local, remote) -> ChildSaKeys:
    cipher, enc, integrity, auth = key_material(suite)
    p2 = parse_phase2(suite)
    return ChildSaKeys(ike_sa_id=1, local=local, remote=remote, encap=True, spi_in=spi_in, spi_out=spi_out,
                       cipher=cipher, key_bits=p2.key_bits, integrity=integrity, enc_key_in=enc,
                       enc_key_out=enc, auth_key_in=auth, auth_key_out=auth)


def pin_first_core() -> None:
    """Measure on one core (core 0)."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})


def socket_row(suite: str, size: int, seconds: float) -> tuple:
    """(suite, in-process receive pps, offered pps, received pps, sent pps, drops) over loopback."""
    log = logging.getLogger("bench")
    log.setLevel(logging.ERROR)
    payload = os.urandom(size)
    loop = asyncio.new_event_loop()
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    rx.bind(("127.0.0.1", 0))
    local = rx.getsockname()
    dataplane = UserspaceDataPlane(log=log, replay_window=4096)
    keys = keys_for(suite, 0x1000, 0x2000, local, ("127.0.0.1", 4500))
    handle = dataplane.install(keys)
    # the peer: same keys, directions swapped, so its outbound is our inbound
    peer = make_sa(keys.cipher, keys.enc_key_in, keys.integrity, keys.auth_key_in, 0x2000, 0x1000)
    datagram = push_udp(1701, 1701, payload)
    packets = [peer.protect(datagram) for _ in range(20_000)]
    received = [0]
    esp = dataplane._by_handle[handle].esp  # the bench resets its replay window, see handler

    def on_l2tp(h, data, port):
        received[0] += 1
    dataplane.on_l2tp = on_l2tp

    def handler(data, address):
        if classify_natt(data) is NattKind.ESP:
            before = received[0]
            dataplane.receive_udp_esp(data, address, local)
            if received[0] == before:  # the blaster cycles its packets: a replay starts a new window
                esp.replay = ReplayWindow(4096)
    # The same path without the socket, from a ring of 64 datagrams: the receiver's own ceiling.
    ring, cursor = packets[:64], [0]

    def in_process() -> None:
        i = cursor[0]
        if i == len(ring):
            esp.replay = ReplayWindow(4096)
            i = 0
        handler(ring[i], ("127.0.0.1", 4500))
        cursor[0] = i + 1
    pin_first_core()
    (ceiling,) = best_rates([in_process], seconds)
    esp.replay = ReplayWindow(4096)
    add_drain_reader(loop, rx, handler, log)
    ready = multiprocessing.Event()
    offered = multiprocessing.Value("d", 0.0)
    child = multiprocessing.Process(target=_blast, args=(local[1], packets, seconds + 0.5, ready, offered))
    child.start()
    ready.wait()
    pin_first_core()

    async def measure() -> float:
        """Datagrams delivered per CPU-second of this process (receive syscalls included)."""
        await asyncio.sleep(0.2)
        first, start = received[0], time.process_time()
        await asyncio.sleep(seconds)
        return (received[0] - first) / max(time.process_time() - start, 1e-9)
    recv_pps = loop.run_until_complete(measure())
    child.join()
    loop.remove_reader(rx.fileno())
    drops = dict(dataplane.counters(handle).drops)
    # send: send_l2tp through a real socket to a sink nobody reads (the kernel drops overflow)
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.setblocking(False)
    sink_addr = sink.getsockname()
    dataplane.attach_udp(lambda data, src, dst: tx.sendto(data, sink_addr))
    send_pps = rate(lambda: dataplane.send_l2tp(handle, payload, 1701), seconds)
    for s in (rx, sink, tx):
        s.close()
    dataplane.close()
    loop.close()
    return suite, ceiling, offered.value, recv_pps, send_pps, drops


def mbit(pps: float, size: int) -> float:
    return pps * size * 8 / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1400, help="payload bytes per packet")
    parser.add_argument("--seconds", type=float, default=1.0, help="per measurement (split in 5 windows)")
    parser.add_argument("--suites", default=",".join(DEFAULT_SUITES))
    parser.add_argument("--socket-suites", default="aes128-sha1,aes256-sha1,aes128gcm16,aes256gcm16",
                        help="suites for the socket rows (empty: none)")
    args = parser.parse_args()
    size = args.size
    pin_first_core()
    with open("/proc/loadavg") as file:
        load = " ".join(file.read().split()[:3])
    print(f"ESP layer vs bare cryptography, {size}-byte payloads, one core "
          f"(Python {sys.version.split()[0]}, cryptography {cryptography.__version__}, load {load})")
    print(f"{'suite':<15}{'enc pps':>10}{'Mbit/s':>8}{'bare':>10}{'ratio':>7}  "
          f"{'dec pps':>10}{'Mbit/s':>8}{'bare':>10}{'ratio':>7}  {'new-ctx enc':>11}")
    for suite, enc, b_enc, dec, b_dec, new in (crypto_row(name, size, args.seconds)
                                               for name in args.suites.split(",")):
        print(f"{suite:<15}{enc:>10.0f}{mbit(enc, size):>8.0f}{b_enc:>10.0f}{enc / b_enc:>7.0%}  "
              f"{dec:>10.0f}{mbit(dec, size):>8.0f}{b_dec:>10.0f}{dec / b_dec:>7.0%}  {new:>11.0f}")
    if not args.socket_suites:
        return
    print()
    print("socket to socket, UDP 4500 on loopback, add_reader drain (receiver on one core)")
    print(f"{'suite':<15}{'in-proc':>10}{'offered':>10}{'recv pps':>10}{'Mbit/s':>8}{'send pps':>10}"
          f"{'Mbit/s':>8}  drops")
    for suite, ceiling, offered, recv, send, drops in (socket_row(name, size, args.seconds * 2)
                                                       for name in args.socket_suites.split(",")):
        print(f"{suite:<15}{ceiling:>10.0f}{offered:>10.0f}{recv:>10.0f}{mbit(recv, size):>8.0f}{send:>10.0f}"
              f"{mbit(send, size):>8.0f}  {drops or '-'}")


if __name__ == "__main__":
    main()
