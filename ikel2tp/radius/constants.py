"""RADIUS numbers as the RFCs name them (RFC 2865 §3-5, RFC 2866 §4-5, RFC 2869 §5, RFC 3579 §3,
RFC 2548 §2, RFC 5176 §2-3), and the value type of each attribute we read or write (rules as data).
"""

from __future__ import annotations

from enum import Enum, IntEnum


class Code(IntEnum):
    """Packet codes: RFC 2865 §3, RFC 2866 §3, RFC 5176 §2."""

    ACCESS_REQUEST = 1
    ACCESS_ACCEPT = 2
    ACCESS_REJECT = 3
    ACCOUNTING_REQUEST = 4
    ACCOUNTING_RESPONSE = 5
    ACCESS_CHALLENGE = 11
    STATUS_SERVER = 12
    DISCONNECT_REQUEST = 40
    DISCONNECT_ACK = 41
    DISCONNECT_NAK = 42
    COA_REQUEST = 43
    COA_ACK = 44
    COA_NAK = 45


class Attr(IntEnum):
    """Attribute types: RFC 2865 §5, RFC 2866 §5, RFC 2869 §5, RFC 3579 §3.2, RFC 5176 §3.5."""

    USER_NAME = 1
    USER_PASSWORD = 2
    CHAP_PASSWORD = 3
    NAS_IP_ADDRESS = 4
    NAS_PORT = 5
    SERVICE_TYPE = 6
    FRAMED_PROTOCOL = 7
    FRAMED_IP_ADDRESS = 8
    FRAMED_IP_NETMASK = 9
    FRAMED_MTU = 12
    REPLY_MESSAGE = 18
    STATE = 24
    CLASS = 25
    VENDOR_SPECIFIC = 26
    SESSION_TIMEOUT = 27
    IDLE_TIMEOUT = 28
    CALLED_STATION_ID = 30
    CALLING_STATION_ID = 31
    NAS_IDENTIFIER = 32
    PROXY_STATE = 33
    ACCT_STATUS_TYPE = 40
    ACCT_DELAY_TIME = 41
    ACCT_INPUT_OCTETS = 42
    ACCT_OUTPUT_OCTETS = 43
    ACCT_SESSION_ID = 44
    ACCT_AUTHENTIC = 45
    ACCT_SESSION_TIME = 46
    ACCT_INPUT_PACKETS = 47
    ACCT_OUTPUT_PACKETS = 48
    ACCT_TERMINATE_CAUSE = 49
    ACCT_INPUT_GIGAWORDS = 52
    ACCT_OUTPUT_GIGAWORDS = 53
    EVENT_TIMESTAMP = 55
    CHAP_CHALLENGE = 60
    NAS_PORT_TYPE = 61
    MESSAGE_AUTHENTICATOR = 80
    ACCT_INTERIM_INTERVAL = 85
    NAS_PORT_ID = 87
    FRAMED_POOL = 88
    ERROR_CAUSE = 101


VENDOR_MICROSOFT = 311  # RFC 2548 §2: Vendor-Id of the Microsoft vendor-specific attributes


class MsAttr(IntEnum):
    """Microsoft vendor-specific attribute types (RFC 2548 §2)."""

    MS_CHAP_RESPONSE = 1
    MS_CHAP_ERROR = 2
    MS_MPPE_ENCRYPTION_POLICY = 7
    MS_MPPE_ENCRYPTION_TYPES = 8
    MS_CHAP_CHALLENGE = 11
    MS_MPPE_SEND_KEY = 16  # ignored: ikel2tp does no MPPE (the link is inside IPsec)
    MS_MPPE_RECV_KEY = 17
    MS_CHAP2_RESPONSE = 25
    MS_CHAP2_SUCCESS = 26


class ServiceType(IntEnum):
    """RFC 2865 §5.6."""

    FRAMED = 2
    AUTHORIZE_ONLY = 17  # RFC 5176 §3.1


class FramedProtocol(IntEnum):
    """RFC 2865 §5.7."""

    PPP = 1


class NasPortType(IntEnum):
    """RFC 2865 §5.41."""

    VIRTUAL = 5


class AcctStatusType(IntEnum):
    """RFC 2866 §5.1."""

    START = 1
    STOP = 2
    INTERIM_UPDATE = 3
    ACCOUNTING_ON = 7
    ACCOUNTING_OFF = 8


class AcctAuthentic(IntEnum):
    """RFC 2866 §5.6."""

    RADIUS = 1
    LOCAL = 2


class TerminateCause(IntEnum):
    """Acct-Terminate-Cause, RFC 2866 §5.10."""

    USER_REQUEST = 1
    LOST_CARRIER = 2
    LOST_SERVICE = 3
    IDLE_TIMEOUT = 4
    SESSION_TIMEOUT = 5
    ADMIN_RESET = 6
    ADMIN_REBOOT = 7
    PORT_ERROR = 8
    NAS_ERROR = 9
    NAS_REQUEST = 10
    NAS_REBOOT = 11
    PORT_UNNEEDED = 12
    PORT_PREEMPTED = 13
    PORT_SUSPENDED = 14
    SERVICE_UNAVAILABLE = 15
    CALLBACK = 16
    USER_ERROR = 17
    HOST_REQUEST = 18


class ErrorCause(IntEnum):
    """Error-Cause values of a Disconnect-ACK/NAK, RFC 5176 §3.5."""

    RESIDUAL_SESSION_CONTEXT_REMOVED = 201
    UNSUPPORTED_ATTRIBUTE = 401
    MISSING_ATTRIBUTE = 402
    NAS_IDENTIFICATION_MISMATCH = 403
    INVALID_REQUEST = 404
    UNSUPPORTED_SERVICE = 405
    SESSION_CONTEXT_NOT_FOUND = 503


class Kind(Enum):
    """How an attribute's value is encoded (RFC 2865 §5: text, string, address, integer)."""

    TEXT = "text"  # UTF-8
    STRING = "string"  # opaque octets
    ADDRESS = "address"  # 4 octets, IPv4
    INTEGER = "integer"  # 4 octets, unsigned, network order


# The value type of every attribute this package reads or writes; a wrong length for a fixed-size
# kind is a decoding error of that attribute (RFC 2865 §5: "Length ... 6" for address and integer).
KIND: dict[int, Kind] = {
    Attr.USER_NAME: Kind.TEXT,
    Attr.USER_PASSWORD: Kind.STRING,
    Attr.CHAP_PASSWORD: Kind.STRING,
    Attr.NAS_IP_ADDRESS: Kind.ADDRESS,
    Attr.NAS_PORT: Kind.INTEGER,
    Attr.SERVICE_TYPE: Kind.INTEGER,
    Attr.FRAMED_PROTOCOL: Kind.INTEGER,
    Attr.FRAMED_IP_ADDRESS: Kind.ADDRESS,
    Attr.FRAMED_IP_NETMASK: Kind.ADDRESS,
    Attr.FRAMED_MTU: Kind.INTEGER,
    Attr.REPLY_MESSAGE: Kind.TEXT,
    Attr.STATE: Kind.STRING,
    Attr.CLASS: Kind.STRING,
    Attr.VENDOR_SPECIFIC: Kind.STRING,
    Attr.SESSION_TIMEOUT: Kind.INTEGER,
    Attr.IDLE_TIMEOUT: Kind.INTEGER,
    Attr.CALLED_STATION_ID: Kind.TEXT,
    Attr.CALLING_STATION_ID: Kind.TEXT,
    Attr.NAS_IDENTIFIER: Kind.TEXT,
    Attr.PROXY_STATE: Kind.STRING,
    Attr.ACCT_STATUS_TYPE: Kind.INTEGER,
    Attr.ACCT_DELAY_TIME: Kind.INTEGER,
    Attr.ACCT_INPUT_OCTETS: Kind.INTEGER,
    Attr.ACCT_OUTPUT_OCTETS: Kind.INTEGER,
    Attr.ACCT_SESSION_ID: Kind.TEXT,
    Attr.ACCT_AUTHENTIC: Kind.INTEGER,
    Attr.ACCT_SESSION_TIME: Kind.INTEGER,
    Attr.ACCT_INPUT_PACKETS: Kind.INTEGER,
    Attr.ACCT_OUTPUT_PACKETS: Kind.INTEGER,
    Attr.ACCT_TERMINATE_CAUSE: Kind.INTEGER,
    Attr.ACCT_INPUT_GIGAWORDS: Kind.INTEGER,
    Attr.ACCT_OUTPUT_GIGAWORDS: Kind.INTEGER,
    Attr.EVENT_TIMESTAMP: Kind.INTEGER,
    Attr.CHAP_CHALLENGE: Kind.STRING,
    Attr.NAS_PORT_TYPE: Kind.INTEGER,
    Attr.MESSAGE_AUTHENTICATOR: Kind.STRING,
    Attr.ACCT_INTERIM_INTERVAL: Kind.INTEGER,
    Attr.NAS_PORT_ID: Kind.TEXT,
    Attr.FRAMED_POOL: Kind.TEXT,
    Attr.ERROR_CAUSE: Kind.INTEGER,
}

# RFC 2865 §3: "The minimum length is 20 and maximum length is 4096."
HEADER_LENGTH = 20
MAX_PACKET_LENGTH = 4096
AUTHENTICATOR_LENGTH = 16
MAX_ATTRIBUTE_VALUE = 253  # RFC 2865 §5: Length is one octet and counts the 2-octet header
MESSAGE_AUTHENTICATOR_LENGTH = 16  # RFC 3579 §3.2

# Requests we send and the answers each may get (RFC 2865 §4, RFC 2866 §4.2).
ANSWERS: dict[Code, frozenset[Code]] = {
    Code.ACCESS_REQUEST: frozenset({Code.ACCESS_ACCEPT, Code.ACCESS_REJECT, Code.ACCESS_CHALLENGE}),
    Code.ACCOUNTING_REQUEST: frozenset({Code.ACCOUNTING_RESPONSE}),
}
