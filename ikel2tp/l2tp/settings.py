"""Settings of the L2TP LNS core."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class L2tpSettings:
    """What the LNS core needs from ``[l2tp]``.

    ``require_ipsec`` (default on) is enforced by the shell, not by this core: the shell feeds the
    core only L2TP that came out of an IPsec SA (``peer`` = the SA handle plus the client's UDP
    port), and plaintext UDP 1701 only when this is off (test-only mode, ``peer`` = the address).

    ``secret`` turns on tunnel authentication (RFC 2661 §5.1.1) and lets us unhide AVPs (§4.3);
    it never appears in repr or logs.  Timers are seconds.  ``hello_interval`` 0 disables HELLO.
    """

    host_name: str = "ikel2tp"
    vendor_name: str = "ikel2tp"
    secret: bytes | None = field(default=None, repr=False)
    hello_interval: float = 60.0
    receive_window: int = 8
    retransmit_initial: float = 1.0
    retransmit_max: float = 8.0
    max_retransmits: int = 5
    setup_timeout: float = 31.0
    stop_hold_time: float = 31.0
    max_tunnels: int = 1024
    max_tunnels_per_peer: int = 4
    max_sessions_per_tunnel: int = 4
    log_interval: float = 60.0
    require_ipsec: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.receive_window <= 0x7FFF:
            raise ValueError("receive_window must be 1..32767")
        if self.max_retransmits < 1 or self.retransmit_initial <= 0:
            raise ValueError("retransmits need a positive initial timeout and limit")
