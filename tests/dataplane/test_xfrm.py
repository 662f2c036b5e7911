"""XFRM backend: what it asks the kernel for, SA demultiplexing by mark, expiry, clean-up.

This host's kernel cannot hold ESP states, so SA requests go to a recording stand-in for the netlink
socket (messages still encoded and decoded by the real codec); the sockets, socket policies and
marks are real, in a namespace the test creates.  The real-kernel SA test runs in the qemu guest.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket

import pytest
from dataplane_support import child_keys
from netns_support import netns

from ikel2tp.dataplane import xfrm_netlink as xn
from ikel2tp.dataplane.base import DataPlane, SaExpired, SaHandle
from ikel2tp.dataplane.xfrm import REQID_BASE, SO_RCVMARK, XfrmDataPlane, enable_udp_encap
from ikel2tp.dataplane.xfrm_netlink import XfrmMsg

log = logging.getLogger("test.xfrm")
LOCAL = ("127.0.0.1", 4500)
NAT = "203.0.113.9"


class KernelStandIn:
    """Records requests (round-tripped through the codec) and answers like a kernel with ESP."""

    def __init__(self, groups=()) -> None:
        self.sock, self._peer = socket.socketpair()
        self.requests: list[tuple[int, object]] = []
        self.states: dict[tuple[bytes, int], object] = {}
        self.stale: list = []
        self.fail_on: tuple[int, int] | None = None  # (message type, n-th occurrence)
        self.pending: list = []

    def request(self, msg, msg_type, *, dump=False):
        msg["header"] = {"type": msg_type}
        msg.encode()
        decoded = xn.decode(msg_type, bytes(msg.data)) if msg_type in xn.REPLIES else msg
        self.requests.append((msg_type, decoded))
        count = sum(1 for kind, _ in self.requests if kind == msg_type)
        if self.fail_on == (msg_type, count):
            raise xn.XfrmError(errno.EEXIST, "XFRM_MSG_NEWSA: File exists")
        if msg_type == XfrmMsg.NEWSA:
            self.states[(decoded["id_daddr"][:4], decoded["id_spi"])] = decoded
            return []
        if msg_type == XfrmMsg.GETSA and dump:
            return list(self.stale)
        key = (msg["daddr"][:4], msg["spi"])
        if msg_type == XfrmMsg.DELSA:
            if self.states.pop(key, None) is None and not any(s["id_spi"] == msg["spi"] for s in self.stale):
                raise xn.XfrmError(errno.ESRCH, "XFRM_MSG_DELSA: No such process")
            return []
        if msg_type == XfrmMsg.GETSA:
            state = self.states.get(key)
            if state is None:
                raise xn.XfrmError(errno.ESRCH, "XFRM_MSG_GETSA: No such process")
            return [state]
        raise AssertionError(f"unexpected request {msg_type}")

    def notifications(self):
        found, self.pending = self.pending, []
        return found

    def close(self) -> None:
        self.sock.close()
        self._peer.close()


@pytest.fixture
def kernel(monkeypatch):
    made: list[KernelStandIn] = []

    def factory(groups=()):
        made.append(KernelStandIn(groups))
        return made[-1]
    with netns():
        yield made, factory


def _sa(made):
    return made[0]


def test_install_two_clients_behind_one_nat(kernel):
    made, factory = kernel
    dp = XfrmDataPlane(log=log, netlink=factory, l2tp_address="127.0.0.1")
    try:
        assert isinstance(dp, DataPlane)
        keys = [child_keys("aes256-sha1", dp.allocate_spi(), 0x7000 + i, LOCAL, (NAT, 40000 + i))
                for i in range(2)]
        handles = [dp.install(k) for k in keys]
        newsa = [m for kind, m in _sa(made).requests if kind == XfrmMsg.NEWSA]
        assert len(newsa) == 4
        inbound, outbound = newsa[0], newsa[1]
        reqid = inbound["reqid"]
        assert REQID_BASE <= reqid < xn.PROBE_REQID and outbound["reqid"] == reqid
        assert newsa[2]["reqid"] != reqid  # the second client: its own reqid and mark
        assert (inbound["id_spi"], socket.inet_ntoa(inbound["id_daddr"][:4])) == (keys[0].spi_in, "127.0.0.1")
        assert inbound.get_attr("XFRMA_SET_MARK") == reqid and outbound.get_attr("XFRMA_SET_MARK") is None
        encap = inbound.get_attr("XFRMA_ENCAP")
        assert (encap["encap_sport"], encap["encap_dport"]) == (40000, 4500)
        assert outbound.get_attr("XFRMA_ENCAP")["encap_dport"] == 40000
        assert inbound.get_attr("XFRMA_ALG_CRYPT")["alg_name"].rstrip(b"\0") == b"cbc(aes)"
        assert inbound.get_attr("XFRMA_ALG_CRYPT")["alg_key"] == keys[0].enc_key_in
        assert outbound.get_attr("XFRMA_ALG_AUTH_TRUNC")["alg_key"] == keys[0].auth_key_out
        assert inbound.get_attr("XFRMA_ALG_AUTH_TRUNC")["alg_trunc_len"] == 96
        assert (inbound["sel_proto"], inbound["sel_dport"], inbound["sel_prefixlen_s"]) == (17, 1701, 32)
        assert (outbound["sel_sport"], socket.inet_ntoa(outbound["sel_daddr"][:4])) == (1701, NAT)
        assert inbound.get_attr("XFRMA_REPLAY_ESN_VAL")["replay_window"] == 128

        got = []
        dp.on_l2tp = lambda handle, payload, port: got.append((handle, payload, port))
        marks = [m["reqid"] for m in newsa[::2]]
        for i in (1, 0):
            dp.deliver(b"from %d" % i, [(socket.SOL_SOCKET, socket.SO_MARK, marks[i].to_bytes(4, "little"))],
                       (NAT, 1701))
        dp.deliver(b"plain", [], (NAT, 1701))
        dp.deliver(b"foreign", [(socket.SOL_SOCKET, socket.SO_MARK, (5).to_bytes(4, "little"))], (NAT, 1701))
        assert got == [(handles[1], b"from 1", 1701), (handles[0], b"from 0", 1701)]
        assert dp.drops == {"no-sa": 2}
    finally:
        dp.close()
    dels = [m for kind, m in _sa(made).requests if kind == XfrmMsg.DELSA]
    assert len(dels) == 4 and not _sa(made).states


def test_aead_and_lifetimes(kernel):
    made, factory = kernel
    dp = XfrmDataPlane(log=log, netlink=factory, l2tp_address="127.0.0.1")
    try:
        dp.install(child_keys("aes128gcm16", 0x1001, 0x2001, LOCAL, (NAT, 4500), lifetime_seconds=3600,
                              lifetime_kilobytes=1000))
        inbound = next(m for kind, m in _sa(made).requests if kind == XfrmMsg.NEWSA)
        aead = inbound.get_attr("XFRMA_ALG_AEAD")
        assert (aead["alg_name"].rstrip(b"\0"), aead["alg_icv_len"], len(aead["alg_key"])) == (
            b"rfc4106(gcm(aes))", 128, 20)
        assert inbound.get_attr("XFRMA_ALG_CRYPT") is None
        assert inbound["lft_soft_add_expires_seconds"] == 3240
        assert inbound["lft_hard_add_expires_seconds"] == 3600
        assert inbound["lft_hard_byte_limit"] == 1024000 and inbound["lft_hard_packet_limit"] == xn.XFRM_INF
    finally:
        dp.close()


def test_failed_install_leaves_nothing(kernel):
    made, factory = kernel
    dp = XfrmDataPlane(log=log, netlink=factory, l2tp_address="127.0.0.1")
    _sa(made).fail_on = (XfrmMsg.NEWSA, 2)
    keys = child_keys("aes128-sha1", 0x1001, 0x2001, LOCAL, (NAT, 4500))
    with pytest.raises(OSError):
        dp.install(keys)
    assert not _sa(made).states
    with pytest.raises(KeyError):
        dp.counters(SaHandle(0x1001, 0x2001))
    dp.close()


def test_stale_states_of_ours_removed_only(kernel):
    made, _ = kernel
    stand_in = KernelStandIn()

    def stale(spi, reqid):
        msg = xn.sa_message(src="192.0.2.1", dst="198.51.100.1", spi=spi, reqid=reqid, sel=xn.selector(),
                            crypt=("cbc(aes)", bytes(16)), auth=("hmac(sha1)", bytes(20), 96))
        msg["header"] = {"type": XfrmMsg.NEWSA}
        msg.encode()
        return xn.decode(XfrmMsg.NEWSA, bytes(msg.data))
    stand_in.stale = [stale(0x100, REQID_BASE + 5), stale(0x101, 7), stale(0x102, xn.PROBE_REQID)]
    dp = XfrmDataPlane(log=log, netlink=lambda groups=(): stand_in, l2tp_address="127.0.0.1")
    try:
        deleted = [m["spi"] for kind, m in stand_in.requests if kind == XfrmMsg.DELSA]
        assert deleted == [0x100, 0x102]  # reqid 7 belongs to someone else
    finally:
        dp.close()


def test_counters_and_expiry(kernel):
    made, factory = kernel
    dp = XfrmDataPlane(log=log, netlink=factory, l2tp_address="127.0.0.1")
    try:
        keys = child_keys("aes128-sha1", 0x1001, 0x2001, LOCAL, (NAT, 4500))
        handle = dp.install(keys)
        states = _sa(made).states
        inbound = states[(socket.inet_aton("127.0.0.1"), 0x1001)]
        inbound.update({"cur_bytes": 5000, "cur_packets": 10, "stats_replay": 2, "stats_integrity_failed": 1})
        states[(socket.inet_aton(NAT), 0x2001)].update({"cur_bytes": 700, "cur_packets": 3})
        c = dp.counters(handle)
        assert (c.packets_in, c.bytes_in, c.packets_out, c.bytes_out) == (10, 5000, 3, 700)
        assert c.drops == {"replay": 2, "icv": 1}

        def expire(hard):
            msg = xn.xfrm_user_expire()
            msg.update(xn._zeros(xn.xfrm_user_expire.fields))
            msg.update({**xn.lifetime(hard_seconds=100), "id_spi": 0x1001, "reqid": inbound["reqid"],
                        "hard": int(hard)})
            msg["attrs"] = []
            msg["header"] = {"type": XfrmMsg.EXPIRE}
            msg.encode()
            return xn.decode(XfrmMsg.EXPIRE, bytes(msg.data))
        assert dp.get_timer() is None  # the kernel keeps the lifetimes; the shell only polls expired()
        made[1].pending = [expire(False)]
        assert dp.expired(0) == [SaExpired(handle, False, "seconds")]
        made[1].pending = [expire(True)]
        assert dp.expired(0) == [SaExpired(handle, True, "seconds")]
        with pytest.raises(KeyError):
            dp.counters(handle)
    finally:
        dp.close()


@pytest.mark.timeout(30)
def test_real_sockets_policies_in_force(kernel):
    """The L2TP sockets' input policy makes the kernel refuse plaintext L2TP (even with one of our
    marks), and a send needs the SA its socket policy names (absent here: the kernel refuses)."""
    made, factory = kernel
    dp = XfrmDataPlane(log=log, netlink=factory, l2tp_address="127.0.0.1")

    async def scenario():
        loop = asyncio.get_running_loop()
        dp.attach(loop)
        got = []
        dp.on_l2tp = lambda *args: got.append(args)
        handle = dp.install(child_keys("aes128-sha1", 0x1001, 0x2001, LOCAL, ("127.0.0.1", 4501)))
        mark = next(m for kind, m in _sa(made).requests if kind == XfrmMsg.NEWSA)["reqid"]
        control = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        control.setsockopt(socket.SOL_SOCKET, SO_RCVMARK, 1)
        control.bind(("127.0.0.1", 0))
        control.setblocking(False)
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sender.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, mark)
        try:
            for _ in range(3):
                sender.sendto(b"plaintext L2TP", ("127.0.0.1", 1701))
            sender.sendto(b"control", control.getsockname())
            for _ in range(500):
                try:
                    data, ancillary, _, _ = control.recvmsg(100, 64)
                    break
                except BlockingIOError:
                    await asyncio.sleep(0.01)
            assert data == b"control" and ancillary[0][2][:4] == mark.to_bytes(4, "little")
            await asyncio.sleep(0.2)
            assert got == []  # refused by the kernel's socket policy check, never read
            dp.send_l2tp(handle, b"needs the SA", 1701)
            assert dp.counters(handle).drops.get("send-failed", 0) == 1
        finally:
            sender.close()
            control.close()
    try:
        asyncio.run(scenario())
    finally:
        dp.close()


def test_udp_encap_option_accepted():
    with netns():
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind(("127.0.0.1", 4500))
            enable_udp_encap(sock)
            assert sock.getsockopt(17, 100) == 2
        finally:
            sock.close()


def test_prepare_ike_socket_sets_bypass_and_udp_encap(kernel):
    """The shell prepares its IKE sockets through the DataPlane protocol (regression: the method was
    missing, so the backend failed the protocol check)."""
    made, factory = kernel
    dp = XfrmDataPlane(log=log, netlink=factory, l2tp_address="127.0.0.1")
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as ike, \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as natt:
            ike.bind(("127.0.0.1", 500))
            natt.bind(("127.0.0.1", 4500))
            dp.prepare_ike_socket(ike, natt=False)
            dp.prepare_ike_socket(natt, natt=True)
            assert natt.getsockopt(17, 100) == 2 and ike.getsockopt(17, 100) == 0
    finally:
        dp.close()


def test_esp_reaching_the_shell_is_counted(kernel, caplog):
    made, factory = kernel
    dp = XfrmDataPlane(log=log, netlink=factory, l2tp_address="127.0.0.1")
    try:
        with caplog.at_level(logging.WARNING):
            for _ in range(3):
                dp.receive_udp_esp(b"\x00\x00\x10\x00" + bytes(40), (NAT, 4500), LOCAL)
        assert dp.drops == {"wrong-path": 3} and caplog.text.count("UDP_ENCAP") == 1
    finally:
        dp.close()
