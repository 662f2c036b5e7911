"""Linux XFRM netlink messages (``NETLINK_XFRM`` = 6) on pyroute2's netlink base, and a small
synchronous transport for them.

pyroute2 knows the netlink framing (``nlmsg``/``nla``) but has no XFRM SA or policy API, so the
messages are declared here.  Struct layouts follow the kernel's ``include/uapi/linux/xfrm.h`` (sizes
on every Linux ABI with 8-byte-aligned ``__u64``; padding is written out as ``x`` fields):

=====================  =====  ====================================================================
struct                 bytes  members (in order)
=====================  =====  ====================================================================
xfrm_address_t            16  union of __be32 a4 / a6[4]
xfrm_selector             56  daddr, saddr, __be16 dport, dport_mask, sport, sport_mask, __u16 family,
                              __u8 prefixlen_d, prefixlen_s, proto, (3 pad), int ifindex, uid user
xfrm_id                   24  daddr, __be32 spi, __u8 proto, (3 pad)
xfrm_lifetime_cfg         64  soft/hard byte, soft/hard packet, soft/hard add-expires, soft/hard use-
                              expires limits (__u64 each)
xfrm_lifetime_cur         32  bytes, packets, add_time, use_time (__u64)
xfrm_stats                12  replay_window, replay, integrity_failed (__u32)
xfrm_usersa_info         224  sel, id, saddr, lft, curlft, stats, __u32 seq, reqid, __u16 family,
                              __u8 mode, replay_window, flags, (7 pad)
xfrm_usersa_id            24  daddr, __be32 spi, __u16 family, __u8 proto, (1 pad)
xfrm_userpolicy_info     168  sel, lft, curlft, __u32 priority, index, __u8 dir, action, flags, share,
                              (4 pad)
xfrm_userpolicy_id        64  sel, __u32 index, __u8 dir, (3 pad)
xfrm_user_tmpl            64  xfrm_id id, __u16 family, (2 pad), saddr, __u32 reqid, __u8 mode, share,
                              optional, (1 pad), __u32 aalgos, ealgos, calgos
xfrm_encap_tmpl           24  __u16 encap_type, __be16 encap_sport, encap_dport, (2 pad), encap_oa
xfrm_algo               68+k  char alg_name[64], unsigned alg_key_len (bits), key
xfrm_algo_auth/_aead    72+k  alg_name[64], alg_key_len (bits), alg_trunc_len / alg_icv_len (bits), key
xfrm_user_expire         232  xfrm_usersa_info state, __u8 hard, (7 pad)
xfrm_mark                  8  __u32 v, m
=====================  =====  ====================================================================

There is deliberately no ``XFRM_MSG_FLUSHSA``/``FLUSHPOLICY`` user: the kernel's flush cannot be
limited to one owner, so cleaning up "ours" is a dump filtered by our reqid range followed by
deletes (see :mod:`ikel2tp.dataplane.xfrm`).  Nor ``XFRM_MSG_ALLOCSPI``: its larval state would have
to be replaced with UPDSA under the same (address, SPI, mark); we pick random SPIs ourselves and the
kernel refuses a duplicate at NEWSA (EEXIST).

Why not pyroute2's ``NetlinkSocket``: since pyroute2 0.9 its synchronous API runs a private asyncio
event loop, which cannot run inside the server's running loop ("This event loop is already
running").  XFRM requests are answered within the ``send`` syscall, so :class:`XfrmSocket` is a plain
blocking ``AF_NETLINK`` socket that encodes and decodes with the pyroute2 classes below.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from enum import IntEnum

from pyroute2.netlink import NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR, nla, nlmsg

NETLINK_XFRM = 6
SOL_NETLINK = 270
NETLINK_EXT_ACK = 11
NLM_F_ACK_TLVS = 0x200
NLM_F_CAPPED = 0x100
NLMSGERR_ATTR_MSG = 1
IPPROTO_ESP = 50
XFRM_INF = 0xFFFFFFFFFFFFFFFF
UDP_ENCAP_ESPINUDP = 2  # RFC 3948 framing (non-ESP marker for IKE)


class XfrmMsg(IntEnum):
    """``XFRM_MSG_*`` message types (xfrm.h)."""

    NEWSA = 0x10
    DELSA = 0x11
    GETSA = 0x12
    NEWPOLICY = 0x13
    DELPOLICY = 0x14
    GETPOLICY = 0x15
    ACQUIRE = 0x17
    EXPIRE = 0x18
    UPDPOLICY = 0x19
    UPDSA = 0x1A
    POLEXPIRE = 0x1B
    MAPPING = 0x26


class XfrmAttr(IntEnum):
    """``XFRMA_*`` attribute types used here (xfrm.h ``enum xfrm_attr_type_t``)."""

    ALG_CRYPT = 2
    ENCAP = 4
    TMPL = 5
    ALG_AEAD = 18
    ALG_AUTH_TRUNC = 20
    MARK = 21
    REPLAY_ESN_VAL = 23
    SA_EXTRA_FLAGS = 24
    SET_MARK = 29
    SET_MARK_MASK = 30


class XfrmMode(IntEnum):
    TRANSPORT = 0
    TUNNEL = 1


class PolicyDir(IntEnum):
    IN = 0
    OUT = 1
    FWD = 2


class PolicyAction(IntEnum):
    ALLOW = 0
    BLOCK = 1


class XfrmGroup(IntEnum):
    """``enum xfrm_nlgroups`` (multicast group numbers; the bind mask is ``1 << (group - 1)``)."""

    ACQUIRE = 1
    EXPIRE = 2
    SA = 3
    POLICY = 4
    MAPPING = 8


# -- struct layouts as pyroute2 field lists ----------------------------------------------------------
def _prefixed(prefix: str, fields: tuple) -> tuple:
    return tuple((f"{prefix}{name}" if not name.startswith("_") else f"_{prefix}{name}", fmt)
                 for name, fmt in fields)


SELECTOR = (("daddr", "16s"), ("saddr", "16s"), ("dport", ">H"), ("dport_mask", ">H"), ("sport", ">H"),
            ("sport_mask", ">H"), ("family", "H"), ("prefixlen_d", "B"), ("prefixlen_s", "B"),
            ("proto", "B"), ("_pad", "3x"), ("ifindex", "i"), ("user", "I"))
XFRM_ID = (("daddr", "16s"), ("spi", ">I"), ("proto", "B"), ("_pad", "3x"))
LIFETIME_CFG = tuple((name, "Q") for name in (
    "soft_byte_limit", "hard_byte_limit", "soft_packet_limit", "hard_packet_limit",
    "soft_add_expires_seconds", "hard_add_expires_seconds", "soft_use_expires_seconds",
    "hard_use_expires_seconds"))
LIFETIME_CUR = (("bytes", "Q"), ("packets", "Q"), ("add_time", "Q"), ("use_time", "Q"))
STATS = (("replay_window", "I"), ("replay", "I"), ("integrity_failed", "I"))
USERSA_INFO = (_prefixed("sel_", SELECTOR) + _prefixed("id_", XFRM_ID) + (("saddr", "16s"),)
               + _prefixed("lft_", LIFETIME_CFG) + _prefixed("cur_", LIFETIME_CUR)
               + _prefixed("stats_", STATS)
               + (("seq", "I"), ("reqid", "I"), ("family", "H"), ("mode", "B"), ("replay_window", "B"),
                  ("flags", "B"), ("_pad_sa", "7x")))
USERSA_ID = (("daddr", "16s"), ("spi", ">I"), ("family", "H"), ("proto", "B"), ("_pad", "1x"))
USERPOLICY_INFO = (_prefixed("sel_", SELECTOR) + _prefixed("lft_", LIFETIME_CFG)
                   + _prefixed("cur_", LIFETIME_CUR)
                   + (("priority", "I"), ("index", "I"), ("dir", "B"), ("action", "B"), ("flags", "B"),
                      ("share", "B"), ("_pad_pol", "4x")))
USERPOLICY_ID = _prefixed("sel_", SELECTOR) + (("index", "I"), ("dir", "B"), ("_pad_id", "3x"))
USER_TMPL = (_prefixed("id_", XFRM_ID) + (("family", "H"), ("_pad_family", "2x"), ("saddr", "16s"),
             ("reqid", "I"), ("mode", "B"), ("share", "B"), ("optional", "B"), ("_pad_opt", "1x"),
             ("aalgos", "I"), ("ealgos", "I"), ("calgos", "I")))


def struct_size(fields: tuple) -> int:
    return sum(struct.calcsize(fmt) for _, fmt in fields)


def pack_struct(fields: tuple, values: dict) -> bytes:
    """Pack a field list outside a netlink message (templates in XFRMA_TMPL, IP_XFRM_POLICY)."""
    out = bytearray()
    for name, fmt in fields:
        out += struct.pack(fmt) if fmt.endswith("x") else struct.pack(fmt, values.get(name, _zero(fmt)))
    return bytes(out)


def unpack_struct(fields: tuple, data: bytes, offset: int = 0) -> dict:
    values = {}
    for name, fmt in fields:
        size = struct.calcsize(fmt)
        if not fmt.endswith("x"):
            values[name] = struct.unpack_from(fmt, data, offset)[0]
        offset += size
    return values


def _zero(fmt: str) -> bytes | int:
    return b"" if fmt.endswith("s") else 0


def _zeros(fields: tuple) -> dict:
    return {name: _zero(fmt) for name, fmt in fields if not fmt.endswith("x")}


# -- attributes --------------------------------------------------------------------------------------
class _algo_base(nla):
    """An algorithm attribute: fixed head, then the key filling the rest of the attribute."""

    head: tuple = ()

    def decode(self) -> None:
        nla.decode(self)
        start = self.offset + 4 + struct_size(self.head)
        self["alg_key"] = bytes(self.data[start : self.offset + self.length])


class xfrm_algo(_algo_base):
    head = (("alg_name", "64s"), ("alg_key_len", "I"))
    fields = head + (("alg_key", "s"),)


class xfrm_algo_auth(_algo_base):
    head = (("alg_name", "64s"), ("alg_key_len", "I"), ("alg_trunc_len", "I"))
    fields = head + (("alg_key", "s"),)


class xfrm_algo_aead(_algo_base):
    head = (("alg_name", "64s"), ("alg_key_len", "I"), ("alg_icv_len", "I"))
    fields = head + (("alg_key", "s"),)


class xfrm_encap_tmpl(nla):
    fields = (("encap_type", "H"), ("encap_sport", ">H"), ("encap_dport", ">H"), ("_pad", "2x"),
              ("encap_oa", "16s"))


class xfrm_mark(nla):
    fields = (("v", "I"), ("m", "I"))


class xfrm_replay_state_esn(nla):
    """Replay state; also how a window wider than 32 is asked for without ESN."""

    fields = (("bmp_len", "I"), ("oseq", "I"), ("seq", "I"), ("oseq_hi", "I"), ("seq_hi", "I"),
              ("replay_window", "I"), ("bmp", "s"))


_SA_ATTRS = (
    (XfrmAttr.ALG_CRYPT, "XFRMA_ALG_CRYPT", "xfrm_algo"),
    (XfrmAttr.ENCAP, "XFRMA_ENCAP", "xfrm_encap_tmpl"),
    (XfrmAttr.ALG_AEAD, "XFRMA_ALG_AEAD", "xfrm_algo_aead"),
    (XfrmAttr.ALG_AUTH_TRUNC, "XFRMA_ALG_AUTH_TRUNC", "xfrm_algo_auth"),
    (XfrmAttr.MARK, "XFRMA_MARK", "xfrm_mark"),
    (XfrmAttr.REPLAY_ESN_VAL, "XFRMA_REPLAY_ESN_VAL", "xfrm_replay_state_esn"),
    (XfrmAttr.SA_EXTRA_FLAGS, "XFRMA_SA_EXTRA_FLAGS", "uint32"),
    (XfrmAttr.SET_MARK, "XFRMA_SET_MARK", "uint32"),
    (XfrmAttr.SET_MARK_MASK, "XFRMA_SET_MARK_MASK", "uint32"),
)
_POLICY_ATTRS = (
    (XfrmAttr.TMPL, "XFRMA_TMPL", "cdata"),
    (XfrmAttr.MARK, "XFRMA_MARK", "xfrm_mark"),
)


class _xfrm_msg(nlmsg):
    xfrm_algo = xfrm_algo
    xfrm_algo_auth = xfrm_algo_auth
    xfrm_algo_aead = xfrm_algo_aead
    xfrm_encap_tmpl = xfrm_encap_tmpl
    xfrm_mark = xfrm_mark
    xfrm_replay_state_esn = xfrm_replay_state_esn


class xfrm_usersa_info(_xfrm_msg):
    """NEWSA / UPDSA request; GETSA and dump replies."""

    fields = USERSA_INFO
    nla_map = _SA_ATTRS


class xfrm_usersa_id(_xfrm_msg):
    """DELSA / GETSA request."""

    fields = USERSA_ID
    nla_map = ((XfrmAttr.MARK, "XFRMA_MARK", "xfrm_mark"),)


class xfrm_userpolicy_info(_xfrm_msg):
    """NEWPOLICY / UPDPOLICY request; GETPOLICY and dump replies."""

    fields = USERPOLICY_INFO
    nla_map = _POLICY_ATTRS


class xfrm_userpolicy_id(_xfrm_msg):
    """DELPOLICY / GETPOLICY request."""

    fields = USERPOLICY_ID
    nla_map = ((XfrmAttr.MARK, "XFRMA_MARK", "xfrm_mark"),)


class xfrm_user_expire(_xfrm_msg):
    """EXPIRE notification (multicast group XFRMNLGRP_EXPIRE)."""

    fields = USERSA_INFO + (("hard", "B"), ("_pad_exp", "7x"))
    nla_map = _SA_ATTRS


# What the kernel sends back, by message type.
REPLIES: dict[int, type[nlmsg]] = {
    XfrmMsg.NEWSA: xfrm_usersa_info,
    XfrmMsg.UPDSA: xfrm_usersa_info,
    XfrmMsg.NEWPOLICY: xfrm_userpolicy_info,
    XfrmMsg.UPDPOLICY: xfrm_userpolicy_info,
    XfrmMsg.EXPIRE: xfrm_user_expire,
}


# -- builders ----------------------------------------------------------------------------------------
def ip4(address: str) -> bytes:
    return socket.inet_aton(address)


def selector(*, src: str = "0.0.0.0", dst: str = "0.0.0.0", proto: int = 0, sport: int = 0,
             dport: int = 0, prefix_src: int = 0, prefix_dst: int = 0) -> dict:
    """An IPv4 ``xfrm_selector`` (ports masked exactly when given)."""
    return {"sel_daddr": ip4(dst), "sel_saddr": ip4(src), "sel_dport": dport,
            "sel_dport_mask": 0xFFFF if dport else 0, "sel_sport": sport,
            "sel_sport_mask": 0xFFFF if sport else 0,
            "sel_family": socket.AF_INET, "sel_prefixlen_d": prefix_dst, "sel_prefixlen_s": prefix_src,
            "sel_proto": proto}


def lifetime(*, soft_bytes: int = 0, hard_bytes: int = 0, soft_packets: int = 0, hard_packets: int = 0,
             soft_seconds: int = 0, hard_seconds: int = 0) -> dict:
    """``xfrm_lifetime_cfg``: 0 means no limit (XFRM_INF)."""
    def limit(value: int) -> int:
        return value or XFRM_INF
    return {"lft_soft_byte_limit": limit(soft_bytes), "lft_hard_byte_limit": limit(hard_bytes),
            "lft_soft_packet_limit": limit(soft_packets), "lft_hard_packet_limit": limit(hard_packets),
            "lft_soft_add_expires_seconds": soft_seconds, "lft_hard_add_expires_seconds": hard_seconds}


def _message(cls: type[nlmsg], values: dict, attrs: list) -> nlmsg:
    msg = cls()
    msg.update(_zeros(cls.fields))
    msg.update(values)
    msg["attrs"] = attrs
    return msg


def _algo(name: str, key: bytes, **extra: int) -> dict:
    return {"alg_name": name.encode(), "alg_key_len": len(key) * 8, "alg_key": key, **extra}


def sa_message(*, src: str, dst: str, spi: int, reqid: int, sel: dict, crypt: tuple[str, bytes] | None,
               auth: tuple[str, bytes, int] | None = None, aead: tuple[str, bytes, int] | None = None,
               encap: tuple[int, int] | None = None, mark: tuple[int, int] | None = None,
               set_mark: tuple[int, int] | None = None, lifetimes: dict | None = None,
               replay_window: int = 0) -> nlmsg:
    """An ``xfrm_usersa_info`` for NEWSA/UPDSA: transport-mode ESP ``src`` -> ``dst`` with ``spi``.

    ``auth``/``aead`` carry (kernel name, key, truncation / ICV length in bits); ``encap`` the
    (source, destination) UDP ports of ESP-in-UDP; ``set_mark`` the (value, mask) the kernel puts on
    packets this SA processed.  A ``replay_window`` (a multiple of 32) goes in XFRMA_REPLAY_ESN_VAL,
    the only way to ask for more than 32 packets; the legacy u8 field must then be 0.
    """
    values = {**selector(), **sel, "id_daddr": ip4(dst), "id_spi": spi, "id_proto": IPPROTO_ESP,
              "saddr": ip4(src), **(lifetimes or lifetime()), "reqid": reqid, "family": socket.AF_INET,
              "mode": XfrmMode.TRANSPORT}
    attrs: list = []
    if replay_window:
        words = (replay_window + 31) // 32
        attrs.append(("XFRMA_REPLAY_ESN_VAL", {"bmp_len": words, "replay_window": words * 32,
                                               "bmp": bytes(4 * words)}))
    if crypt is not None:
        attrs.append(("XFRMA_ALG_CRYPT", _algo(*crypt)))
    if auth is not None:
        attrs.append(("XFRMA_ALG_AUTH_TRUNC", _algo(auth[0], auth[1], alg_trunc_len=auth[2])))
    if aead is not None:
        attrs.append(("XFRMA_ALG_AEAD", _algo(aead[0], aead[1], alg_icv_len=aead[2])))
    if encap is not None:
        attrs.append(("XFRMA_ENCAP", {"encap_type": UDP_ENCAP_ESPINUDP, "encap_sport": encap[0],
                                      "encap_dport": encap[1], "encap_oa": b""}))
    if mark is not None:
        attrs.append(("XFRMA_MARK", {"v": mark[0], "m": mark[1]}))
    if set_mark is not None:
        attrs += [("XFRMA_SET_MARK", set_mark[0]), ("XFRMA_SET_MARK_MASK", set_mark[1])]
    return _message(xfrm_usersa_info, values, attrs)


def sa_id_message(*, dst: str, spi: int, mark: tuple[int, int] | None = None) -> nlmsg:
    """An ``xfrm_usersa_id`` naming one ESP SA for DELSA/GETSA."""
    attrs = [("XFRMA_MARK", {"v": mark[0], "m": mark[1]})] if mark else []
    return _message(xfrm_usersa_id, {"daddr": ip4(dst), "spi": spi, "family": socket.AF_INET,
                                     "proto": IPPROTO_ESP}, attrs)


def template(*, reqid: int, dst: str = "0.0.0.0", src: str = "0.0.0.0", spi: int = 0,
             mode: XfrmMode = XfrmMode.TRANSPORT, optional: bool = False) -> bytes:
    """One packed ``xfrm_user_tmpl`` requiring ESP (any algorithm) with ``reqid``."""
    return pack_struct(USER_TMPL, {"id_daddr": ip4(dst), "id_spi": spi, "id_proto": IPPROTO_ESP,
                                   "family": socket.AF_INET, "saddr": ip4(src), "reqid": reqid, "mode": mode,
                                   "optional": int(optional), "aalgos": 0xFFFFFFFF, "ealgos": 0xFFFFFFFF,
                                   "calgos": 0xFFFFFFFF})


def policy_values(*, sel: dict, direction: PolicyDir, action: PolicyAction = PolicyAction.ALLOW,
                  priority: int = 0, index: int = 0) -> dict:
    return {**selector(), **sel, **lifetime(), "priority": priority, "index": index, "dir": direction,
            "action": action}


def policy_message(*, sel: dict, direction: PolicyDir, templates: list[bytes], priority: int = 0,
                   mark: tuple[int, int] | None = None, action: PolicyAction = PolicyAction.ALLOW) -> nlmsg:
    """An ``xfrm_userpolicy_info`` for NEWPOLICY/UPDPOLICY."""
    attrs: list = []
    if templates:
        attrs.append(("XFRMA_TMPL", b"".join(templates)))
    if mark is not None:
        attrs.append(("XFRMA_MARK", {"v": mark[0], "m": mark[1]}))
    return _message(xfrm_userpolicy_info, policy_values(sel=sel, direction=direction, action=action,
                                                        priority=priority), attrs)


def policy_id_message(*, sel: dict, direction: PolicyDir, mark: tuple[int, int] | None = None,
                      index: int = 0) -> nlmsg:
    """An ``xfrm_userpolicy_id`` for DELPOLICY/GETPOLICY (by selector, or by ``index``)."""
    attrs = [("XFRMA_MARK", {"v": mark[0], "m": mark[1]})] if mark else []
    return _message(xfrm_userpolicy_id, {**selector(), **sel, "index": index, "dir": direction}, attrs)


def socket_policy(*, direction: PolicyDir, action: PolicyAction = PolicyAction.ALLOW,
                  templates: list[bytes] = ()) -> bytes:
    """The ``IP_XFRM_POLICY`` socket option value: ``xfrm_userpolicy_info`` then the templates.

    No templates and ALLOW = bypass (the IKE sockets); a template = this socket's traffic must use it.
    """
    return pack_struct(USERPOLICY_INFO, policy_values(sel=selector(), direction=direction,
                                                      action=action)) + b"".join(templates)


def templates_of(msg: nlmsg) -> list[dict]:
    """The ``xfrm_user_tmpl`` records of a policy message."""
    raw = msg.get_attr("XFRMA_TMPL") or b""
    size = struct_size(USER_TMPL)
    return [unpack_struct(USER_TMPL, raw, offset) for offset in range(0, len(raw) - size + 1, size)]


# -- transport ---------------------------------------------------------------------------------------
class XfrmError(OSError):
    """The kernel refused an XFRM request; ``str()`` includes its extended-ack message."""


_NLMSGHDR = struct.Struct("=IHHII")


class XfrmSocket:
    """A blocking ``NETLINK_XFRM`` socket; ``groups`` subscribes to multicast notifications."""

    def __init__(self, groups: tuple[XfrmGroup, ...] = ()) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_XFRM)
        self.sock.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
        self.sock.bind((0, sum(1 << (group - 1) for group in groups)))
        self._seq = 0

    def close(self) -> None:
        self.sock.close()

    def request(self, msg: nlmsg, msg_type: int, *, dump: bool = False) -> list[nlmsg]:
        """Send one request and collect the replies until the ack (or NLMSG_DONE for a dump)."""
        self._seq += 1
        seq = self._seq
        msg["header"] = {"type": msg_type, "sequence_number": seq,
                         "flags": NLM_F_REQUEST | (NLM_F_DUMP if dump else NLM_F_ACK)}
        msg.encode()
        self.sock.send(bytes(msg.data))
        replies: list[nlmsg] = []
        while True:
            data = self.sock.recv(1 << 20)
            for kind, flags, reply_seq, body in _frames(data):
                if reply_seq != seq:
                    continue
                if kind == NLMSG_ERROR:
                    _raise_for_error(flags, body, msg_type)
                    return replies
                if kind == NLMSG_DONE:
                    return replies
                replies.append(decode(kind, body))

    def notifications(self) -> list[nlmsg]:
        """Multicast messages waiting on a subscribed socket (non-blocking)."""
        found = []
        while True:
            try:
                data = self.sock.recv(1 << 20, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return found
            found += [decode(kind, body) for kind, _, _, body in _frames(data) if kind in REPLIES]


def _frames(data: bytes):
    offset = 0
    while offset + _NLMSGHDR.size <= len(data):
        length, kind, flags, seq, _pid = _NLMSGHDR.unpack_from(data, offset)
        if length < _NLMSGHDR.size or offset + length > len(data):
            return
        yield kind, flags, seq, data[offset : offset + length]
        offset += (length + 3) & ~3


def decode(kind: int, frame: bytes) -> nlmsg:
    msg = REPLIES.get(kind, nlmsg)(frame)
    msg.decode()
    return msg


def _raise_for_error(flags: int, frame: bytes, msg_type: int) -> None:
    (code,) = struct.unpack_from("=i", frame, 16)
    if code == 0:
        return
    text = ""
    if flags & NLM_F_ACK_TLVS:
        (orig_len,) = struct.unpack_from("=I", frame, 20)
        offset = 20 + (16 if flags & NLM_F_CAPPED else ((orig_len + 3) & ~3))
        while offset + 4 <= len(frame):
            length, kind = struct.unpack_from("=HH", frame, offset)
            if length < 4:
                break
            if kind == NLMSGERR_ATTR_MSG:
                text = frame[offset + 4 : offset + length].split(b"\0")[0].decode(errors="replace")
            offset += (length + 3) & ~3
    name = XfrmMsg(msg_type).name if msg_type in XfrmMsg._value2member_map_ else str(msg_type)
    detail = f"{os.strerror(-code)}" + (f": {text}" if text else "")
    raise XfrmError(-code, f"XFRM_MSG_{name}: {detail}")


# -- probe -------------------------------------------------------------------------------------------
PROBE_REQID = 0x1C2E_FFFF  # top of our reqid range, never given to an SA


def probe_esp_state() -> tuple[bool, str]:
    """Can this kernel hold an ESP state?  Installs a throwaway ESP SA (127.0.0.1, random SPI, our
    probe reqid, a 10 s hard lifetime as a safety net), deletes it at once, and says why not."""
    try:
        xfrm = XfrmSocket()
    except OSError as error:
        return False, f"no XFRM netlink: {error.strerror or error}"
    spi = 0x100 + int.from_bytes(os.urandom(3), "big")
    try:
        xfrm.request(sa_message(src="127.0.0.1", dst="127.0.0.1", spi=spi, reqid=PROBE_REQID,
                                sel=selector(), crypt=("cbc(aes)", bytes(16)),
                                auth=("hmac(sha1)", bytes(20), 96),
                                lifetimes=lifetime(hard_seconds=10)), XfrmMsg.NEWSA)
    except OSError as error:
        why = "needs CAP_NET_ADMIN" if error.errno == errno.EPERM else str(error)
        return False, f"the kernel cannot hold an ESP state ({why})"
    finally:
        try:
            xfrm.request(sa_id_message(dst="127.0.0.1", spi=spi), XfrmMsg.DELSA)
        except OSError:
            pass
        xfrm.close()
    return True, "the kernel accepted and removed a test ESP state"
