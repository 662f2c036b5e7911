"""The IKE core's boundary (docs/architecture.md): datagrams and ``now`` in; datagrams, events and
the next deadline out.  It finds the IKE SA of each message (cookies; half-open SAs by initiator
cookie and peer address), answers retransmitted requests from its cache, enforces the half-open
limits, reassembles and sends IKE fragments, runs the timers (retransmission, half-open timeout,
DPD, lifetimes) and catches every :class:`ProtocolError` so bad input only drops its exchange.
"""

from __future__ import annotations

import heapq
import logging
import os
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping

from ikel2tp.common.errors import ProtocolError
from ikel2tp.ike import rules
from ikel2tp.ike.auth import Authenticator, PskAuthenticator
from ikel2tp.ike.constants import (
    NATT_PORT,
    AuthMethod,
    ExchangeType,
    Flag,
    NotifyType,
    PayloadType,
    ProtocolId,
)
from ikel2tp.ike.errors import IkeError
from ikel2tp.ike.events import (
    Address,
    ChildSaDeleted,
    InitialContact,
    PeerDead,
    Phase1Deleted,
    Phase1Failed,
    QuickModeFailed,
)
from ikel2tp.ike.message import HEADER_LENGTH, Header, decode_plain, encode, split
from ikel2tp.ike.payloads import DeletePayload, FragmentPayload, NotifyPayload, pull_payloads
from ikel2tp.ike.proposal import Refusal
from ikel2tp.ike.sa import IkeSa, Pending, State
from ikel2tp.ike.settings import IkeSettings
from ikel2tp.ike.tasks import dpd, informational
from ikel2tp.ike.tasks.aggressive_mode import AggressiveMode
from ikel2tp.ike.tasks.main_mode import ENCRYPTED_STATES, MainMode
from ikel2tp.ike.tasks.quick_mode import QmState, QuickMode

ZERO_COOKIE = bytes(8)
MAX_FRAGMENTS = 16  # per message
MAX_REASSEMBLIES = 64  # messages being reassembled at once
FRAGMENT_TIMEOUT = 10.0
MAX_QUICK_MODES = 8  # concurrent Quick Modes per IKE SA
DROP_LOG_INTERVAL = 10.0
MAX_DROP_LOG_KEYS = 1024
# (peer address, peer's phase 1 ID when already known: Aggressive Mode) -> authenticator or None
AuthenticatorFactory = Callable[[Address, str | None], Authenticator | None]
# Errors that end a half-open SA: the peer's proof (HASH, certificate, ID, SIG) was refused.
AUTH_FAILURES = frozenset(
    {
        NotifyType.AUTHENTICATION_FAILED,
        NotifyType.INVALID_SIGNATURE,
        NotifyType.INVALID_CERTIFICATE,
        NotifyType.INVALID_CERT_AUTHORITY,
        NotifyType.INVALID_CERT_ENCODING,
        NotifyType.CERT_TYPE_UNSUPPORTED,
        NotifyType.INVALID_ID_INFORMATION,
    }
)


class _Reassembly:
    __slots__ = ("parts", "last", "size", "started")

    def __init__(self, now: float) -> None:
        self.parts: dict[int, bytes] = {}
        self.last = 0
        self.size = 0
        self.started = now


class IkeManager:
    """All IKE SAs of this endpoint, both roles.

    ``spi_allocator`` returns a fresh inbound ESP SPI (the data plane owns SPIs).
    ``authenticators`` maps an authentication method to a factory giving the authenticator for
    a peer address and (Aggressive Mode) ID (None: no credentials); PSK from the settings is
    built in, RSA signatures come from :class:`~ikel2tp.ike.certauth.CertAuthenticator`.
    """

    def __init__(
        self,
        settings: IkeSettings,
        *,
        spi_allocator: Callable[[], int],
        log: logging.Logger,
        random: Callable[[int], bytes] = os.urandom,
        authenticators: Mapping[int, AuthenticatorFactory] | None = None,
    ) -> None:
        self.settings = settings
        self.spi_allocator = spi_allocator
        self.log = log
        self.random = random
        self._authenticators: dict[int, AuthenticatorFactory] = {}
        self.set_authenticators(authenticators or {})
        self._sas: dict[tuple[bytes, bytes], IkeSa] = {}
        self._by_id: dict[int, IkeSa] = {}
        # the live SAs by their current remote address (peer_alive / invalid_spi per ESP packet)
        self._by_remote: dict[Address, dict[int, IkeSa]] = {}
        self._half_open: dict[tuple[bytes, Address], IkeSa] = {}
        self._half_open_per_source: dict[str, int] = {}
        self._initiating: dict[bytes, IkeSa] = {}
        self._next_id = 1
        self._out: list[tuple[bytes, Address, Address]] = []
        self._events: deque = deque()
        self._timers: list[tuple[float, int]] = []
        self._reassembly: OrderedDict[tuple, _Reassembly] = OrderedDict()
        self._fragment_id = 0
        self._invalid_spi_sent: OrderedDict[tuple[Address, int], float] = OrderedDict()
        self._drop_log: OrderedDict[tuple[str, str | None], tuple[float | None, int]] = OrderedDict()

    # -- the shell's interface ----------------------------------------------------------------
    def set_authenticators(self, authenticators: Mapping[int, AuthenticatorFactory]) -> None:
        """Replace the extra authenticator factories (reload: new CAs, CRL, allowed subjects);
        negotiations already past their method choice keep the authenticator they have."""
        self._authenticators = {AuthMethod.PRE_SHARED_KEY: self._psk, **authenticators}

    def datagrams_to_send(self) -> list[tuple[bytes, Address, Address]]:
        out, self._out = self._out, []
        return out

    def next_event(self):
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        while self._timers:
            when, sa_id = self._timers[0]
            sa = self._by_id.get(sa_id)
            if sa is not None and sa.timer_at == when:
                break
            heapq.heappop(self._timers)
        soonest = self._timers[0][0] if self._timers else None
        if self._reassembly:
            first = next(iter(self._reassembly.values())).started + FRAGMENT_TIMEOUT
            soonest = first if soonest is None else min(soonest, first)
        return soonest

    def handle_timer(self, now: float) -> None:
        while self._timers and self._timers[0][0] <= now:
            when, sa_id = heapq.heappop(self._timers)
            sa = self._by_id.get(sa_id)
            if sa is not None and sa.timer_at == when:
                sa.timer_at = float("inf")
                self._sa_timer(sa, now)
                self._schedule(sa, now)
        while self._reassembly:
            key, entry = next(iter(self._reassembly.items()))
            if entry.started + FRAGMENT_TIMEOUT > now:
                break
            del self._reassembly[key]
            self.log.info("IKE fragments from %s:%d timed out", key[0][0], key[0][1])

    def receive_datagram(self, data: bytes, local: Address, remote: Address, now: float) -> None:
        """A bare ISAKMP message (the shell strips the non-ESP marker on port 4500)."""
        try:
            self._receive(data, local, remote, now)
        except ProtocolError as exc:
            self._log_drop(remote, exc, now)

    def _log_drop(self, remote: Address, exc: ProtocolError, now: float) -> None:
        """Log why a datagram was dropped, once per peer address and field every 10 s (a flood
        of garbage must not become a flood of log lines)."""
        key = (remote[0], exc.field)
        last, suppressed = self._drop_log.get(key, (None, 0))
        if last is not None and now - last < DROP_LOG_INTERVAL:
            self._drop_log[key] = (last, suppressed + 1)
            return
        more = f" ({suppressed} more like it suppressed)" if suppressed else ""
        self.log.info("IKE drop from %s:%d: %s%s", remote[0], remote[1], exc, more)
        self._drop_log[key] = (now, 0)
        self._drop_log.move_to_end(key)
        while len(self._drop_log) > MAX_DROP_LOG_KEYS:
            self._drop_log.popitem(last=False)

    def peer_alive(self, remote: Address, now: float) -> None:
        """The shell saw ESP or a NAT-T keepalive from ``remote``: no DPD probe needed."""
        for sa in self._by_remote.get(remote, {}).values():
            sa.last_seen = now
            self._schedule(sa, now)

    def invalid_spi(self, remote: Address, spi: int, now: float) -> None:
        """The data plane got ESP with an unknown SPI from ``remote``: tell the peer with an
        INVALID-SPI notify (RFC 2408 §3.14.1) over its IKE SA, at most once per SPI and minute."""
        last = self._invalid_spi_sent.get((remote, spi))
        if last is not None and now - last < 60.0:
            return
        for sa in self._by_remote.get(remote, {}).values():
            if sa.established:
                if len(self._invalid_spi_sent) >= 256:
                    self._invalid_spi_sent.popitem(last=False)
                self._invalid_spi_sent[(remote, spi)] = now
                self.send_notify(sa, NotifyType.INVALID_SPI, ProtocolId.IPSEC_ESP, spi.to_bytes(4, "big"))
                return

    def initiate(self, local: Address, remote: Address, now: float, *, aggressive: bool = False) -> int:
        """Start Main Mode (or Aggressive Mode) as initiator (tests, load generator); Quick Mode
        follows on success."""
        sa = self._new_sa(True, self.random(8), ZERO_COOKIE, local, remote, now)
        sa.main_mode = (AggressiveMode if aggressive else MainMode)(self, sa)
        self._initiating[sa.icookie] = sa
        try:
            data = sa.main_mode.start(now)
        except ValueError:  # no credentials for that peer
            self._forget(sa)
            raise
        self._send_expecting_reply(sa, [data], now)
        return sa.sa_id

    def initiate_child(self, ike_sa_id: int, now: float) -> None:
        """A further Quick Mode on an established IKE SA (phase 2 rekey)."""
        sa = self._by_id[ike_sa_id]
        self._start_quick_mode(sa, now)

    def delete_child(self, spi_in: int) -> bool:
        """Send Delete for the ESP SA pair with our inbound ``spi_in`` and forget it."""
        for sa in list(self._by_id.values()):
            if self.remove_child(sa, spi_in, "deleted locally", send_delete=True):
                return True
        return False

    def delete_ike_sa(self, ike_sa_id: int) -> bool:
        sa = self._by_id.get(ike_sa_id)
        if sa is None:
            return False
        self.remove_ike_sa(sa, "deleted locally", send_delete=True, adopt=False)
        return True

    def delete_all(self) -> None:
        for sa in list(self._by_id.values()):
            self.remove_ike_sa(sa, "shutting down", send_delete=True, adopt=False)

    def ike_sas(self) -> list[IkeSa]:
        return list(self._by_id.values())

    # -- used by the tasks ----------------------------------------------------------------------
    def emit(self, event) -> None:
        self._events.append(event)

    def _psk(self, remote: Address, peer_id: str | None) -> Authenticator | None:
        psk = self.settings.psk_for(remote[0], peer_id)
        return PskAuthenticator(psk) if psk else None

    def authenticator(self, method: int, remote: Address, peer_id: str | None = None) -> Authenticator | None:
        factory = self._authenticators.get(method)
        return factory(remote, peer_id) if factory else None

    def auth_methods(self, remote: Address, peer_id: str | None = None) -> list[int]:
        return [m for m, factory in self._authenticators.items() if factory(remote, peer_id) is not None]

    def refuse_phase1(
        self, sa: IkeSa, refusal: Refusal | None, reason: str = "no acceptable proposal"
    ) -> None:
        """Answer NO-PROPOSAL-CHOSEN in the clear and end the half-open SA (RFC 2408 §5.2)."""
        detail = f": {refusal.text}" if refusal is not None else ""
        self.log.warning("IKE SA with %s refused: %s%s", sa.describe(), reason, detail)
        self.emit(Phase1Failed(sa.remote, reason, refusal))
        notify = NotifyPayload(NotifyType.NO_PROPOSAL_CHOSEN, ProtocolId.ISAKMP, sa.icookie + sa.rcookie)
        header = Header(sa.icookie, sa.rcookie, 0, ExchangeType.INFORMATIONAL, 0, 0)
        self._out.append((encode(header, [notify]), sa.local, sa.remote))
        sa.state = State.DELETED

    def float_to_natt(self, sa: IkeSa) -> None:
        """RFC 3947 §4: the initiator moves to port 4500 once NAT is detected."""
        sa.local = (sa.local[0], NATT_PORT)
        self._set_remote(sa, (sa.remote[0], NATT_PORT))

    def send_notify(self, sa: IkeSa, notify_type: int, protocol: int, spi: bytes, data: bytes = b"") -> None:
        if not sa.established:
            return
        mid = self._message_id()
        self._send(sa, informational.build(sa, mid, [NotifyPayload(notify_type, protocol, spi, data)]))

    def initial_contact(self, sa: IkeSa) -> None:
        """RFC 2407 §4.6.3.3: the peer has no older state; drop ours.  The older SAs are those from
        the same address and either the same port or the same phase 1 ID (a client whose NAT
        mapping changed on reconnect); another client behind the same NAT differs in both."""
        self.log.info("%s sent INITIAL-CONTACT; dropping its older SAs", sa.describe())
        self.emit(InitialContact(sa.sa_id, sa.remote, sa.peer_id))
        for other in list(self._by_id.values()):
            if other is sa or not other.established or other.remote[0] != sa.remote[0]:
                continue
            if other.remote[1] == sa.remote[1] or other.peer_id == sa.peer_id:
                self.remove_ike_sa(other, "INITIAL-CONTACT", send_delete=False, adopt=False)

    def find_by_cookies(self, icookie: bytes, rcookie: bytes) -> IkeSa | None:
        return self._sas.get((icookie, rcookie))

    def remove_child(
        self, sa: IkeSa, spi: int, reason: str, *, send_delete: bool, by_spi_out: bool = False
    ) -> bool:
        for child in sa.children:
            keys = child.keys
            if (keys.spi_out if by_spi_out else keys.spi_in) == spi:
                sa.children.remove(child)
                if send_delete and sa.established:
                    self._send(
                        sa,
                        informational.build(
                            sa,
                            self._message_id(),
                            [DeletePayload(ProtocolId.IPSEC_ESP, (keys.spi_in.to_bytes(4, "big"),))],
                        ),
                    )
                self.log.info(
                    "ESP SA %08x/%08x with %s deleted: %s", keys.spi_in, keys.spi_out, sa.describe(), reason
                )
                self.emit(ChildSaDeleted(sa.sa_id, keys.spi_in, keys.spi_out, reason))
                return True
        return False

    def remove_ike_sa(self, sa: IkeSa, reason: str, *, send_delete: bool, adopt: bool = True) -> None:
        """Forget an IKE SA.  Its ESP SAs move to the peer's newest other IKE SA when ``adopt``
        (phase 1 rekey: traffic keeps flowing), else they are deleted too."""
        if sa.state == State.DELETED and sa.sa_id not in self._by_id:
            return
        heir = None
        if adopt:
            heirs = [o for o in self._by_remote.get(sa.remote, {}).values() if o is not sa and o.established]
            heir = max(heirs, key=lambda o: o.sa_id, default=None)
        if heir is not None:
            heir.children.extend(sa.children)
            sa.children = []
        for child in list(sa.children):
            self.remove_child(sa, child.keys.spi_in, reason, send_delete=send_delete)
        if send_delete and sa.established:
            self._send(
                sa,
                informational.build(
                    sa, self._message_id(), [DeletePayload(ProtocolId.ISAKMP, (sa.icookie + sa.rcookie,))]
                ),
            )
        was_established = sa.established
        self._forget(sa)
        if was_established:
            self.log.info("IKE SA with %s deleted: %s", sa.describe(), reason)
            self.emit(Phase1Deleted(sa.sa_id, sa.remote, reason))

    def peer_dead(self, sa: IkeSa) -> None:
        self.log.warning(
            "%s did not answer DPD for %.0f s: peer is dead", sa.describe(), self.settings.dpd_timeout
        )
        self.emit(PeerDead(sa.sa_id, sa.remote))
        self.remove_ike_sa(sa, "dead peer", send_delete=False, adopt=False)

    # -- internals: receiving -------------------------------------------------------------------
    def _receive(self, data: bytes, local: Address, remote: Address, now: float) -> None:
        header, body = split(data)
        if header.next_payload == PayloadType.FRAGMENT and not header.flags & Flag.ENCRYPTION:
            whole = self._reassemble(header, body, remote, now)
            if whole is not None:
                self._receive(whole, local, remote, now)
            return
        if header.rcookie == ZERO_COOKIE:
            if header.exchange == ExchangeType.IDENTITY_PROTECTION:
                self._phase1_first(MainMode, header, body, data, local, remote, now)
            elif header.exchange == ExchangeType.AGGRESSIVE and self.settings.aggressive:
                self._phase1_first(AggressiveMode, header, body, data, local, remote, now)
            elif header.exchange == ExchangeType.AGGRESSIVE:
                self.log.warning(
                    "IKE drop from %s:%d: Aggressive Mode is not accepted (it exposes a PSK hash "
                    "to offline guessing; setting aggressive); configure the client for Main Mode",
                    *remote,
                )
            else:
                raise IkeError(f"exchange {header.exchange} without a responder cookie", field="cookie")
            return
        sa = self._sas.get((header.icookie, header.rcookie))
        if sa is None:
            sa = self._initiating.get(header.icookie)
            if sa is None or sa.remote[0] != remote[0]:
                raise IkeError("unknown cookies", field="cookie")
            del self._initiating[header.icookie]
            sa.rcookie = header.rcookie
            self._sas[(sa.icookie, sa.rcookie)] = sa
        cached = sa.cached_response(data)
        if cached is not None:
            self.log.debug(
                "%s repeated a message; resending our answer (%d datagrams)", sa.describe(), len(cached)
            )
            self._out.extend((d, sa.local, sa.remote) for d, _, _ in cached)
            return
        before = len(self._out)
        previous = sa.local, sa.remote
        if header.flags & Flag.ENCRYPTION and sa.keys is not None:
            # NAT-T float or a changed NAT mapping (RFC 3947 §4): answer where the message came
            # from; kept only if the message authenticates.
            sa.local = local
            self._set_remote(sa, remote)
        try:
            if header.exchange in (ExchangeType.IDENTITY_PROTECTION, ExchangeType.AGGRESSIVE):
                self._phase1(sa, header, body, now)
            elif header.exchange == ExchangeType.QUICK_MODE:
                self._quick_mode(sa, header, body, now)
            elif header.exchange == ExchangeType.INFORMATIONAL:
                self._informational(sa, header, body, now)
            else:
                raise IkeError(
                    f"exchange type {header.exchange} not supported",
                    field="exchange",
                    code=NotifyType.UNSUPPORTED_EXCHANGE_TYPE,
                )
        except ProtocolError as exc:
            sa.local = previous[0]
            self._set_remote(sa, previous[1])
            self._failed(sa, exc, now)
            raise
        if sa.remote != previous[1]:
            self.log.info("%s moved from %s:%d", sa.describe(), *previous[1])
        sa.last_seen = now
        if header.exchange != ExchangeType.INFORMATIONAL:  # also "no answer" (QM3): a repeat stays quiet
            sa.cache_response(data, self._out[before:])
        self._schedule(sa, now)

    def _failed(self, sa: IkeSa, exc: ProtocolError, now: float) -> None:
        """A message failed: half-open SAs whose authentication failed end, the peer told why
        with the notify type of the error (RFC 2408 §3.14.1); others keep going."""
        if sa.established or sa.sa_id not in self._by_id:
            return
        if exc.code in AUTH_FAILURES or exc.field in ("HASH_I", "HASH_R"):
            self.log.warning("IKE SA with %s failed: %s", sa.describe(), exc.reason)
            self.emit(Phase1Failed(sa.remote, exc.reason))
            if exc.code in AUTH_FAILURES and sa.keys is not None:
                spi = sa.icookie + sa.rcookie
                payloads: list = [NotifyPayload(exc.code, ProtocolId.ISAKMP, spi)]
                if sa.initiator:  # the responder thinks the SA is up after MM6: delete it there
                    payloads.append(DeletePayload(ProtocolId.ISAKMP, (spi,)))
                self._send(sa, informational.build(sa, self._message_id(), payloads))
            self._forget(sa)

    def _phase1_first(
        self,
        task: type[MainMode],
        header: Header,
        body: bytes,
        data: bytes,
        local: Address,
        remote: Address,
        now: float,
    ) -> None:
        """MM1 or AM1: a new half-open responder SA, within the limits."""
        key = (header.icookie, remote)
        existing = self._half_open.get(key)
        if existing is not None:
            cached = existing.cached_response(data)
            if cached is None:
                raise IkeError("a different MM1 with a known initiator cookie", field="cookie")
            self._out.extend((d, existing.local, existing.remote) for d, _, _ in cached)
            return
        s = self.settings
        if len(self._half_open) >= s.max_half_open:
            raise IkeError(f"{len(self._half_open)} half-open IKE SAs (limit max_half_open)", field="limit")
        if self._half_open_per_source.get(remote[0], 0) >= s.max_half_open_per_source:
            raise IkeError(
                f"too many half-open IKE SAs from {remote[0]} (limit max_half_open_per_source)", field="limit"
            )
        message = decode_plain(header, body)
        sa = self._new_sa(False, header.icookie, self.random(8), local, remote, now)
        sa.main_mode = mm = task(self, sa)
        try:
            out = mm.receive(message, now)
        except ProtocolError:
            self._forget(sa)
            raise
        if sa.state == State.DELETED:  # refused
            self._forget(sa)
            return
        self._sas[(sa.icookie, sa.rcookie)] = sa
        self._half_open[key] = sa
        self._half_open_per_source[remote[0]] = self._half_open_per_source.get(remote[0], 0) + 1
        start = len(self._out)
        self._send_expecting_reply(sa, out, now)
        sa.cache_response(data, self._out[start:])
        self._schedule(sa, now)

    def _phase1(self, sa: IkeSa, header: Header, body: bytes, now: float) -> None:
        mm = sa.main_mode
        if not isinstance(mm, MainMode) or sa.established:
            raise IkeError("phase 1 message for an established SA", field="exchange")
        if isinstance(mm, AggressiveMode) != (header.exchange == ExchangeType.AGGRESSIVE):
            raise IkeError(f"exchange {header.exchange} in the middle of another phase 1", field="exchange")
        encrypted = (sa.initiator, sa.state) in ENCRYPTED_STATES
        if isinstance(mm, AggressiveMode):  # the third message may or may not be encrypted
            encrypted = bool(header.flags & Flag.ENCRYPTION) and sa.keys is not None
        if bool(header.flags & Flag.ENCRYPTION) != encrypted:
            raise IkeError(
                "Main Mode message %s encryption" % ("without" if encrypted else "with"),
                field="flags",
                code=NotifyType.INVALID_FLAGS,
            )
        if not encrypted:
            out = mm.receive(decode_plain(header, body), now)
        else:
            assert sa.ivs is not None
            plain, last = sa.decrypt(0, body)
            try:  # garbage after decryption means the keys differ: the PSK (or the packet) is wrong
                message = decode_plain(header, plain)
                mm.check(message)
            except IkeError as exc:
                which = "HASH_R" if sa.initiator else "HASH_I"
                raise IkeError(
                    f"the pre-shared key does not match ({which} did not verify: the encrypted "
                    f"message did not decrypt to valid payloads) for {sa.remote[0]}",
                    field=which,
                    code=NotifyType.AUTHENTICATION_FAILED,
                ) from exc
            previous = sa.ivs.phase1
            sa.ivs.update(0, last)
            try:
                out = mm.receive(message, now)
            except ProtocolError as exc:
                if exc.code not in AUTH_FAILURES:  # else the refusal notify chains on this message
                    sa.ivs.phase1 = previous
                raise
        sa.pending = None
        if sa.established:
            for data in out:  # MM6 / AM3 before anything the new SA starts (Quick Mode)
                self._send(sa, data)
            self._established(sa, now)
        else:
            self._send_expecting_reply(sa, out, now)

    def _established(self, sa: IkeSa, now: float) -> None:
        for key, half in list(self._half_open.items()):
            if half is sa:
                self._drop_half_open(key)
        sa.dpd_seq = int.from_bytes(self.random(4), "big") & 0x7FFFFFFF
        sa.last_seen = now
        if sa.initiator:
            self._start_quick_mode(sa, now)

    def _quick_mode(self, sa: IkeSa, header: Header, body: bytes, now: float) -> None:
        if not sa.established:
            raise IkeError("Quick Mode before phase 1 completed", field="exchange")
        if not header.flags & Flag.ENCRYPTION or header.message_id == 0:
            raise IkeError(
                "Quick Mode must be encrypted with a non-zero message ID",
                field="flags",
                code=NotifyType.INVALID_FLAGS,
            )
        mid = header.message_id
        qm = sa.quick_modes.get(mid)
        new = qm is None
        if new:
            qm = QuickMode(self, sa, mid, initiator=False)
        assert isinstance(qm, QuickMode) and sa.ivs is not None
        iv_before = sa.ivs.get(mid)
        plain, last = sa.decrypt(mid, body)
        message = decode_plain(header, plain)
        sa.ivs.update(mid, last)
        try:
            out = qm.receive(message, now)
        except ProtocolError:
            sa.ivs.update(mid, iv_before)
            raise
        if new and qm.state != QmState.DONE:
            if len(sa.quick_modes) >= MAX_QUICK_MODES:  # the peer abandoned some: forget the oldest
                del sa.quick_modes[next(iter(sa.quick_modes))]
            sa.quick_modes[mid] = qm
        if qm.state == QmState.DONE:
            sa.quick_modes.pop(mid, None)
            if sa.pending and sa.pending.message_id == mid:
                sa.pending = None
            for data in out:
                self._send(sa, data)
        else:
            self._send_expecting_reply(sa, out, now, mid)

    def _informational(self, sa: IkeSa, header: Header, body: bytes, now: float) -> None:
        if not header.flags & Flag.ENCRYPTION:
            message = decode_plain(header, body)
            rules.check("informational_plain", message)
            if sa.established:
                raise IkeError("unprotected informational for an established SA", field="flags")
            notifies = message.all(NotifyPayload)
            for n in notifies:
                self.log.warning("IKE SA with %s: peer reports %s (unauthenticated)", sa.describe(), n.name())
            errors = [n.name() for n in notifies if n.notify_type < NotifyType.CONNECTED]
            if sa.initiator and errors:  # our own negotiation was refused: stop waiting
                self.emit(Phase1Failed(sa.remote, f"peer answered {errors[0]}"))
                self._forget(sa)
            return
        if sa.keys is None or sa.ivs is None:
            raise IkeError("encrypted informational before keys exist", field="flags")
        mid = header.message_id
        plain, _ = sa.decrypt(mid, body)
        message = decode_plain(header, plain)
        informational.verify(sa, message)
        informational.process(self, sa, message, now)
        errors = [n.name() for n in message.all(NotifyPayload) if n.notify_type < NotifyType.CONNECTED]
        if sa.initiator and not sa.established and errors:  # our phase 1 was refused
            self.emit(Phase1Failed(sa.remote, f"peer answered {errors[0]}"))
            self._forget(sa)

    def _reassemble(self, header: Header, body: bytes, remote: Address, now: float) -> bytes | None:
        """IKE fragmentation: collect fragments 1..n (last flagged), then the whole message."""
        if (header.icookie, header.rcookie) not in self._sas:
            raise IkeError("fragment for unknown cookies", field="cookie")
        payloads = pull_payloads(body, PayloadType.FRAGMENT)
        if len(payloads) != 1 or not isinstance(payloads[0].payload, FragmentPayload):
            raise IkeError(
                "fragment message with other payloads", field="fragment", code=NotifyType.PAYLOAD_MALFORMED
            )
        frag = payloads[0].payload
        if not 1 <= frag.number <= MAX_FRAGMENTS:
            raise IkeError(f"fragment number {frag.number}", field="fragment")
        key = (remote, header.icookie, header.rcookie, frag.fragment_id)
        entry = self._reassembly.get(key)
        if entry is None:
            if len(self._reassembly) >= MAX_REASSEMBLIES:
                self._reassembly.popitem(last=False)
            entry = self._reassembly[key] = _Reassembly(now)
        if frag.number not in entry.parts:
            entry.parts[frag.number] = frag.data
            entry.size += len(frag.data)
        if frag.last:
            entry.last = frag.number
        if entry.size > 0xFFFF:
            del self._reassembly[key]
            raise IkeError("reassembled message too long", field="fragment")
        if not entry.last or len(entry.parts) < entry.last:
            return None
        del self._reassembly[key]
        if any(n not in entry.parts for n in range(1, entry.last + 1)):
            raise IkeError("fragments beyond the last one", field="fragment")
        return b"".join(entry.parts[n] for n in range(1, entry.last + 1))

    # -- internals: sending and timers --------------------------------------------------------
    def _message_id(self) -> int:
        return int.from_bytes(self.random(4), "big") or 1

    def _send(self, sa: IkeSa, data: bytes) -> None:
        for piece in self._fragments(sa, data):
            self._out.append((piece, sa.local, sa.remote))

    def _send_expecting_reply(self, sa: IkeSa, datagrams: list[bytes], now: float, mid: int = 0) -> None:
        if not datagrams:
            return
        start = len(self._out)
        for data in datagrams:
            self._send(sa, data)
        sa.pending = Pending(self._out[start:], now + self.settings.retransmit_timeout, 0, mid)
        self._schedule(sa, now)

    def _fragments(self, sa: IkeSa, data: bytes) -> list[bytes]:
        """Split ``data`` into fragment messages when the peer supports it and it is too large."""
        overhead = 28 + (4 if NATT_PORT in (sa.local[1], sa.remote[1]) else 0)  # IPv4 + UDP (+ marker)
        if not sa.ext.fragmentation or len(data) + overhead <= self.settings.fragment_size:
            return [data]
        room = self.settings.fragment_size - overhead - HEADER_LENGTH - 8
        self._fragment_id = (self._fragment_id + 1) & 0xFFFF or 1
        chunks = [data[i : i + room] for i in range(0, len(data), room)]
        header = Header(sa.icookie, sa.rcookie, 0, ExchangeType.IDENTITY_PROTECTION, 0, 0)
        return [
            encode(header, [FragmentPayload(self._fragment_id, n + 1, n == len(chunks) - 1, chunk)])
            for n, chunk in enumerate(chunks)
        ]

    def _new_sa(
        self, initiator: bool, icookie: bytes, rcookie: bytes, local: Address, remote: Address, now: float
    ) -> IkeSa:
        sa = IkeSa(self._next_id, initiator, icookie, rcookie, local, remote, now, last_seen=now)
        self._next_id += 1
        self._by_id[sa.sa_id] = sa
        self._by_remote.setdefault(remote, {})[sa.sa_id] = sa
        self._schedule(sa, now)
        return sa

    def _set_remote(self, sa: IkeSa, remote: Address) -> None:
        """Move ``sa`` to a new peer address (NAT-T float, changed NAT mapping), keeping the index
        by remote address right; every change of a live SA's ``remote`` goes through here."""
        if remote == sa.remote:
            return
        self._unindex(sa)
        sa.remote = remote
        if sa.sa_id in self._by_id:
            self._by_remote.setdefault(remote, {})[sa.sa_id] = sa

    def _unindex(self, sa: IkeSa) -> None:
        bucket = self._by_remote.get(sa.remote)
        if bucket is not None and bucket.pop(sa.sa_id, None) is not None and not bucket:
            del self._by_remote[sa.remote]

    def _drop_half_open(self, key: tuple[bytes, Address]) -> None:
        self._half_open.pop(key)
        source = key[1][0]
        count = self._half_open_per_source.get(source, 1) - 1
        if count:
            self._half_open_per_source[source] = count
        else:
            self._half_open_per_source.pop(source, None)

    def _forget(self, sa: IkeSa) -> None:
        for key, half in list(self._half_open.items()):
            if half is sa:
                self._drop_half_open(key)
        self._sas.pop((sa.icookie, sa.rcookie), None)
        self._initiating.pop(sa.icookie, None)
        self._by_id.pop(sa.sa_id, None)
        self._unindex(sa)
        sa.state = State.DELETED

    def _deadline(self, sa: IkeSa) -> float:
        times = [float("inf")]
        if not sa.established:
            times.append(sa.created + self.settings.half_open_timeout)
        if sa.pending is not None:
            times.append(sa.pending.deadline)
        due = dpd.deadline(self, sa)
        if due is not None:
            times.append(due)
        if sa.established:
            times.append(sa.expires)
            times.extend(c.expires for c in sa.children)
        return min(times)

    def _schedule(self, sa: IkeSa, now: float) -> None:
        if sa.sa_id not in self._by_id:
            return
        when = self._deadline(sa)
        if when != sa.timer_at and when != float("inf"):
            sa.timer_at = when
            heapq.heappush(self._timers, (when, sa.sa_id))

    def _sa_timer(self, sa: IkeSa, now: float) -> None:
        s = self.settings
        if not sa.established and now >= sa.created + s.half_open_timeout:
            reason = f"no answer within {s.half_open_timeout:.0f} s (half-open IKE SA timed out)"
            self.log.info("IKE SA with %s failed: %s", sa.describe(), reason)
            self.emit(Phase1Failed(sa.remote, reason))
            self._forget(sa)
            return
        pending = sa.pending
        if pending is not None and now >= pending.deadline:
            if pending.tries >= s.retransmit_tries:
                sa.pending = None
                self._give_up(sa, pending)
                if sa.sa_id not in self._by_id:
                    return
            else:
                pending.tries += 1
                pending.deadline = now + s.retransmit_timeout * (2**pending.tries)
                self._out.extend(pending.datagrams)
        dpd.on_timer(self, sa, now)
        if sa.sa_id not in self._by_id or not sa.established:
            return
        if now >= sa.expires:
            self.remove_ike_sa(sa, "lifetime expired", send_delete=True)
            return
        for child in [c for c in sa.children if now >= c.expires]:
            self.remove_child(sa, child.keys.spi_in, "lifetime expired", send_delete=True)

    def _give_up(self, sa: IkeSa, pending: Pending) -> None:
        reason = f"no answer after {pending.tries} retransmissions"
        if not sa.established:
            self.log.info("IKE SA with %s failed: %s", sa.describe(), reason)
            self.emit(Phase1Failed(sa.remote, reason))
            self._forget(sa)
        else:
            sa.quick_modes.pop(pending.message_id, None)
            self.log.info("Quick Mode with %s failed: %s", sa.describe(), reason)
            self.emit(QuickModeFailed(sa.sa_id, sa.remote, reason))

    def _start_quick_mode(self, sa: IkeSa, now: float) -> None:
        mid = self._message_id()
        qm = QuickMode(self, sa, mid, initiator=True)
        sa.quick_modes[mid] = qm
        self._send_expecting_reply(sa, [qm.start(now)], now, mid)
        self._schedule(sa, now)
