"""PPP numbers as the RFCs name them."""

from __future__ import annotations

from enum import IntEnum


class Protocol(IntEnum):
    """PPP Protocol field values (RFC 1661 §2, IANA "PPP DLL Protocol Numbers")."""

    IPV4 = 0x0021
    IPV6 = 0x0057
    IPCP = 0x8021
    ECP = 0x8053
    IPV6CP = 0x8057
    CCP = 0x80FD
    LCP = 0xC021
    PAP = 0xC023
    LQR = 0xC025
    CHAP = 0xC223
    EAP = 0xC227


class Code(IntEnum):
    """Control packet codes (RFC 1661 §5); 8-11 are LCP only."""

    CONFIGURE_REQUEST = 1
    CONFIGURE_ACK = 2
    CONFIGURE_NAK = 3
    CONFIGURE_REJECT = 4
    TERMINATE_REQUEST = 5
    TERMINATE_ACK = 6
    CODE_REJECT = 7
    PROTOCOL_REJECT = 8
    ECHO_REQUEST = 9
    ECHO_REPLY = 10
    DISCARD_REQUEST = 11


class LcpOption(IntEnum):
    """LCP Configuration Options (RFC 1661 §6, RFC 1570, RFC 1990, IANA)."""

    MRU = 1
    ACCM = 2
    AUTH_PROTOCOL = 3
    QUALITY_PROTOCOL = 4
    MAGIC_NUMBER = 5
    PFC = 7
    ACFC = 8
    CALLBACK = 13
    MRRU = 17
    SHORT_SEQUENCE = 18
    ENDPOINT_DISCRIMINATOR = 19


class IpcpOption(IntEnum):
    """IPCP Configuration Options (RFC 1332 §3, RFC 1877 §1)."""

    IP_ADDRESSES = 1
    IP_COMPRESSION = 2
    IP_ADDRESS = 3
    PRIMARY_DNS = 129
    PRIMARY_NBNS = 130
    SECONDARY_DNS = 131
    SECONDARY_NBNS = 132


class Ipv6cpOption(IntEnum):
    """IPv6CP Configuration Options (RFC 5072 §4)."""

    INTERFACE_IDENTIFIER = 1
    IPV6_COMPRESSION = 2
