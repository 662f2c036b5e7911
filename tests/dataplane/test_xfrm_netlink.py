"""XFRM netlink messages: layouts against xfrm.h (C-aligned struct formats written here), encoding,
decoding, error parsing, and the kernel's own validation in a test namespace."""

from __future__ import annotations

import errno
import socket
import struct
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st
from netns_support import netns

from ikel2tp.dataplane import xfrm_netlink as xn
from ikel2tp.dataplane.xfrm_netlink import PolicyAction, PolicyDir, XfrmMsg, XfrmSocket

# Independent reference: each struct of include/uapi/linux/xfrm.h as a native (C-aligned) struct
# format; "0Q" adds the trailing padding C gives a struct holding a __u64.
C_LAYOUTS = {
    "SELECTOR": ("@16s16sHHHHHBBBiI", 56),
    "XFRM_ID": ("@16sIB0I", 24),
    "USERSA_ID": ("@16sIHB0I", 24),
    "USER_TMPL": ("@16sIB0IH0I16sIBBBIII", 64),
    "USERPOLICY_ID": ("@16s16sHHHHHBBBiIIB0I", 64),
    "USERSA_INFO": ("@16s16sHHHHHBBBiI" "16sIB0I" "16s" "8Q" "4Q" "3I" "IIHBBB0Q", 224),
    "USERPOLICY_INFO": ("@16s16sHHHHHBBBiI" "8Q" "4Q" "IIBBBB0Q", 168),
}


@pytest.mark.parametrize("name", list(C_LAYOUTS))
def test_sizes_match_c_layout(name):
    fmt, size = C_LAYOUTS[name]
    assert struct.calcsize(fmt) == size == xn.struct_size(getattr(xn, name))


def test_nested_sizes():
    assert xn.struct_size(xn.xfrm_user_expire.fields) == 232
    assert xn.struct_size(xn.xfrm_encap_tmpl.fields) == 24


def test_template_bytes_match_c_struct():
    packed = xn.template(reqid=0x1C2E0007, dst="203.0.113.4", src="192.0.2.1")
    reference = struct.pack("@16sIB0IH0I16sIBBBIII", socket.inet_aton("203.0.113.4"), socket.htonl(0),
                            50, socket.AF_INET, socket.inet_aton("192.0.2.1"), 0x1C2E0007, 0, 0, 0,
                            0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF)
    assert packed == reference


def test_socket_policy_bytes_match_c_struct():
    tmpl = xn.template(reqid=5)
    packed = xn.socket_policy(direction=PolicyDir.OUT, templates=[tmpl])
    inf = xn.XFRM_INF
    reference = struct.pack("@16s16sHHHHHBBBiI8Q4QIIBBBB0Q", bytes(4), bytes(4), 0, 0, 0, 0, socket.AF_INET,
                            0, 0, 0, 0, 0, inf, inf, inf, inf, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, PolicyDir.OUT,
                            PolicyAction.ALLOW, 0, 0)
    assert packed == reference + tmpl


def _encode(msg, kind) -> bytes:
    msg["header"] = {"type": kind}
    msg.encode()
    return bytes(msg.data)


def test_sa_message_body_and_attributes():
    msg = xn.sa_message(src="192.0.2.1", dst="203.0.113.4", spi=0xC0FFEE01, reqid=0x1C2E0001,
                        sel=xn.selector(src="192.0.2.1", dst="203.0.113.4", prefix_src=32, prefix_dst=32,
                                        proto=17, sport=1701),
                        crypt=("cbc(aes)", bytes(range(16))), auth=("hmac(sha256)", bytes(32), 128),
                        encap=(4500, 40001), set_mark=(0x1C2E0001, 0xFFFFFFFF), replay_window=128,
                        lifetimes=xn.lifetime(soft_seconds=2700, hard_seconds=3000))
    data = _encode(msg, XfrmMsg.NEWSA)
    length, kind = struct.unpack_from("=IH", data)
    assert (length, kind) == (len(data), XfrmMsg.NEWSA)
    body = data[16 : 16 + 224]
    sel = struct.unpack_from("@16s16sHHHHHBBBiI", body)
    assert sel[:9] == (socket.inet_aton("203.0.113.4") + bytes(12), socket.inet_aton("192.0.2.1") + bytes(12),
                       0, 0, socket.htons(1701), 0xFFFF, socket.AF_INET, 32, 32)
    daddr, spi, proto = struct.unpack_from("@16sIB", body, 56)
    assert (daddr[:4], spi, proto) == (socket.inet_aton("203.0.113.4"), socket.htonl(0xC0FFEE01), 50)
    lft = struct.unpack_from("@8Q", body, 96)
    assert lft[4:6] == (2700, 3000) and lft[1] == xn.XFRM_INF
    seq, reqid, family, mode, replay_window, flags = struct.unpack_from("@IIHBBB", body, 204)
    assert (reqid, family, mode, replay_window) == (0x1C2E0001, socket.AF_INET, 0, 0)
    decoded = xn.decode(XfrmMsg.NEWSA, data)
    assert decoded["id_spi"] == 0xC0FFEE01 and decoded["reqid"] == 0x1C2E0001
    assert decoded.get_attr("XFRMA_ALG_CRYPT")["alg_key"] == bytes(range(16))
    auth = decoded.get_attr("XFRMA_ALG_AUTH_TRUNC")
    assert auth["alg_name"].rstrip(b"\0") == b"hmac(sha256)"
    assert (auth["alg_key_len"], auth["alg_trunc_len"]) == (256, 128)
    encap = decoded.get_attr("XFRMA_ENCAP")
    assert (encap["encap_type"], encap["encap_sport"], encap["encap_dport"]) == (2, 4500, 40001)
    assert decoded.get_attr("XFRMA_SET_MARK") == 0x1C2E0001
    esn = decoded.get_attr("XFRMA_REPLAY_ESN_VAL")
    assert (esn["bmp_len"], esn["replay_window"]) == (4, 128)


@given(st.ip_addresses(v=4).map(str), st.ip_addresses(v=4).map(str), st.integers(0, 255),
       st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.integers(0, 32), st.sampled_from(list(PolicyDir)),
       st.integers(0, 0xFFFFFFFF), st.lists(st.integers(0, 0xFFFFFFFF), max_size=3))
def test_policy_round_trip(src, dst, proto, sport, dport, prefix, direction, priority, reqids):
    sel = xn.selector(src=src, dst=dst, proto=proto, sport=sport, dport=dport, prefix_src=prefix,
                      prefix_dst=prefix)
    msg = xn.policy_message(sel=sel, direction=direction, priority=priority, mark=(7, 0xFF),
                            templates=[xn.template(reqid=r, dst=dst) for r in reqids])
    decoded = xn.decode(XfrmMsg.NEWPOLICY, _encode(msg, XfrmMsg.NEWPOLICY))
    assert {k: decoded[k] for k in sel} == {k: v if not isinstance(v, bytes) else v.ljust(16, b"\0")
                                            for k, v in sel.items()}
    assert (decoded["dir"], decoded["priority"]) == (direction, priority)
    assert [t["reqid"] for t in xn.templates_of(decoded)] == reqids
    assert decoded.get_attr("XFRMA_MARK") == {"v": 7, "m": 0xFF}


def _error_frame(code: int, text: str | None, capped: bool = True) -> bytes:
    original = struct.pack("=IHHII", 16, XfrmMsg.NEWSA, 5, 1, 0)
    tlvs = b""
    if text is not None:
        raw = text.encode() + b"\0"
        tlvs = struct.pack("=HH", 4 + len(raw), 1) + raw + bytes((-len(raw)) % 4)
    flags = (0x100 if capped else 0) | (0x200 if tlvs else 0)
    body = struct.pack("=i", code) + original + tlvs
    return struct.pack("=IHHII", 16 + len(body), 2, flags, 1, 0) + body


def test_error_with_extended_ack():
    with pytest.raises(xn.XfrmError) as info:
        xn._raise_for_error(0x300, _error_frame(-errno.EPROTONOSUPPORT, "Requested type not found"),
                            XfrmMsg.NEWSA)
    assert info.value.errno == errno.EPROTONOSUPPORT
    assert "XFRM_MSG_NEWSA" in str(info.value) and "Requested type not found" in str(info.value)
    xn._raise_for_error(0, _error_frame(0, None), XfrmMsg.NEWSA)  # an ack raises nothing


def test_truncated_frames_ignored():
    frame = _error_frame(0, None)
    assert [f[0] for f in xn._frames(frame + frame[:10])] == [2]
    assert list(xn._frames(struct.pack("=IHHII", 8, 2, 0, 0, 0))) == []


# -- the kernel, in a namespace of our own ---------------------------------------------------------
@pytest.mark.timeout(30)
def test_kernel_validates_our_sa_message():
    """NEWSA gets past the kernel's message checks (selector, algorithms, encap, replay ESN, set-mark)
    and fails only where this kernel lacks ESP; a broken message fails earlier, with EINVAL."""
    with netns():
        xfrm = XfrmSocket()
        try:
            good = xn.sa_message(src="192.0.2.1", dst="203.0.113.4", spi=0x1000, reqid=0x1C2E0001,
                                 sel=xn.selector(proto=17), crypt=("cbc(aes)", bytes(16)),
                                 auth=("hmac(sha1)", bytes(20), 96), encap=(4500, 4500),
                                 set_mark=(1, 0xFFFFFFFF), replay_window=128)
            try:
                xfrm.request(good, XfrmMsg.NEWSA)
            except xn.XfrmError as error:  # this host: no ESP in the kernel
                assert error.errno == errno.EPROTONOSUPPORT, error
            else:
                xfrm.request(xn.sa_id_message(dst="203.0.113.4", spi=0x1000), XfrmMsg.DELSA)
            bad = xn.sa_message(src="192.0.2.1", dst="203.0.113.4", spi=0x1000, reqid=1, sel=xn.selector(),
                                crypt=("cbc(aes)", bytes(16)), auth=("hmac(sha1)", bytes(20), 96),
                                replay_window=64)
            bad["replay_window"] = 8  # ESN attribute and legacy window together: the kernel refuses
            with pytest.raises(xn.XfrmError) as info:
                xfrm.request(bad, XfrmMsg.NEWSA)
            assert info.value.errno == errno.EINVAL
        finally:
            xfrm.close()


@pytest.mark.timeout(30)
def test_policies_install_dump_delete():
    with netns():
        xfrm = XfrmSocket()
        try:
            sel = xn.selector(src="192.0.2.1", dst="203.0.113.4", prefix_src=32, prefix_dst=32, proto=17,
                              sport=1701)
            for mark in (0x1C2E0001, 0x1C2E0002):  # identical selectors, told apart by the mark
                xfrm.request(xn.policy_message(sel=sel, direction=PolicyDir.OUT, mark=(mark, 0xFFFFFFFF),
                                               templates=[xn.template(reqid=mark)]), XfrmMsg.NEWPOLICY)
            dump = xfrm.request(xn.policy_id_message(sel=xn.selector(), direction=PolicyDir.OUT),
                                XfrmMsg.GETPOLICY, dump=True)
            assert sorted(p.get_attr("XFRMA_MARK")["v"] for p in dump) == [0x1C2E0001, 0x1C2E0002]
            assert sorted(xn.templates_of(p)[0]["reqid"] for p in dump) == [0x1C2E0001, 0x1C2E0002]
            assert {p["sel_sport"] for p in dump} == {1701}
            shown = subprocess.run(["ip", "xfrm", "policy", "list"], capture_output=True, text=True,
                                   timeout=10, check=True).stdout  # iproute2 reads back what we wrote
            for mark in ("0x1c2e0001", "0x1c2e0002"):
                assert f"mark {mark}/0xffffffff" in shown
            assert shown.count("sport 1701") == 2 and shown.count("proto esp reqid") == 2
            assert "src 192.0.2.1/32 dst 203.0.113.4/32 proto udp" in shown
            for mark in (0x1C2E0001, 0x1C2E0002):
                xfrm.request(xn.policy_id_message(sel=sel, direction=PolicyDir.OUT, mark=(mark, 0xFFFFFFFF)),
                             XfrmMsg.DELPOLICY)
            assert xfrm.request(xn.policy_id_message(sel=xn.selector(), direction=PolicyDir.OUT),
                                XfrmMsg.GETPOLICY, dump=True) == []
            with pytest.raises(xn.XfrmError) as info:
                xfrm.request(xn.policy_id_message(sel=sel, direction=PolicyDir.OUT, mark=(1, 0xFFFFFFFF)),
                             XfrmMsg.DELPOLICY)
            assert info.value.errno == errno.ENOENT
        finally:
            xfrm.close()


@pytest.mark.timeout(30)
def test_socket_policies_accepted_by_the_kernel():
    from ikel2tp.dataplane.xfrm import IP_XFRM_POLICY, set_ike_bypass
    with netns():
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            set_ike_bypass(sock)
            sock.setsockopt(socket.IPPROTO_IP, IP_XFRM_POLICY, xn.socket_policy(
                direction=PolicyDir.OUT, templates=[xn.template(reqid=9, src="127.0.0.1", dst="127.0.0.2")]))
            with pytest.raises(OSError):  # socket policies exist only for IN and OUT
                sock.setsockopt(socket.IPPROTO_IP, IP_XFRM_POLICY, xn.socket_policy(direction=PolicyDir.FWD))
        finally:
            sock.close()


@pytest.mark.timeout(30)
def test_probe_reports_why():
    with netns():
        usable, why = xn.probe_esp_state()
        if not usable:
            assert "cannot hold an ESP state" in why
        xfrm = XfrmSocket()
        try:  # nothing is left behind either way
            assert xfrm.request(xn.sa_id_message(dst="0.0.0.0", spi=0), XfrmMsg.GETSA, dump=True) == []
        finally:
            xfrm.close()
