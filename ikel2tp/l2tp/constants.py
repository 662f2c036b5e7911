"""Wire constants of L2TP version 2 (RFC 2661), named as in the RFC."""

from __future__ import annotations

from enum import IntEnum

L2TP_VERSION = 2
"""RFC 2661 §3.1: Ver MUST be 2; 1 is L2F (RFC 2341), 3 is L2TPv3 — both dropped."""

PROTOCOL_VERSION = (1, 0)
"""RFC 2661 §4.4.1 Protocol Version AVP: Ver 1, Rev 0."""

DEFAULT_PEER_WINDOW = 4
"""RFC 2661 §4.4.3 Receive Window Size: assume 4 when the peer sends none."""

class MessageType(IntEnum):
    """RFC 2661 §3.2 control message types (Message Type AVP value)."""

    SCCRQ = 1   # Start-Control-Connection-Request
    SCCRP = 2   # Start-Control-Connection-Reply
    SCCCN = 3   # Start-Control-Connection-Connected
    StopCCN = 4  # Stop-Control-Connection-Notification
    HELLO = 6
    OCRQ = 7    # Outgoing-Call-Request
    OCRP = 8    # Outgoing-Call-Reply
    OCCN = 9    # Outgoing-Call-Connected
    ICRQ = 10   # Incoming-Call-Request
    ICRP = 11   # Incoming-Call-Reply
    ICCN = 12   # Incoming-Call-Connected
    CDN = 14    # Call-Disconnect-Notify
    WEN = 15    # WAN-Error-Notify
    SLI = 16    # Set-Link-Info


SESSION_MESSAGES = frozenset({
    MessageType.OCRQ, MessageType.OCRP, MessageType.OCCN, MessageType.ICRQ, MessageType.ICRP,
    MessageType.ICCN, MessageType.CDN, MessageType.WEN, MessageType.SLI,
})
"""RFC 2661 §3.2: messages that belong to a call (session); the others manage the tunnel."""


class AvpType(IntEnum):
    """RFC 2661 §4.4 attribute types (vendor ID 0)."""

    MESSAGE_TYPE = 0
    RESULT_CODE = 1
    PROTOCOL_VERSION = 2
    FRAMING_CAPABILITIES = 3
    BEARER_CAPABILITIES = 4
    TIE_BREAKER = 5
    FIRMWARE_REVISION = 6
    HOST_NAME = 7
    VENDOR_NAME = 8
    ASSIGNED_TUNNEL_ID = 9
    RECEIVE_WINDOW_SIZE = 10
    CHALLENGE = 11
    Q931_CAUSE_CODE = 12
    CHALLENGE_RESPONSE = 13
    ASSIGNED_SESSION_ID = 14
    CALL_SERIAL_NUMBER = 15
    MINIMUM_BPS = 16
    MAXIMUM_BPS = 17
    BEARER_TYPE = 18
    FRAMING_TYPE = 19
    CALLED_NUMBER = 21
    CALLING_NUMBER = 22
    SUB_ADDRESS = 23
    TX_CONNECT_SPEED = 24
    PHYSICAL_CHANNEL_ID = 25
    INITIAL_RECEIVED_LCP_CONFREQ = 26
    LAST_SENT_LCP_CONFREQ = 27
    LAST_RECEIVED_LCP_CONFREQ = 28
    PROXY_AUTHEN_TYPE = 29
    PROXY_AUTHEN_NAME = 30
    PROXY_AUTHEN_CHALLENGE = 31
    PROXY_AUTHEN_ID = 32
    PROXY_AUTHEN_RESPONSE = 33
    CALL_ERRORS = 34
    ACCM = 35
    RANDOM_VECTOR = 36
    PRIVATE_GROUP_ID = 37
    RX_CONNECT_SPEED = 38
    SEQUENCING_REQUIRED = 39


class StopCcnResult(IntEnum):
    """RFC 2661 §4.4.2 Result Code values in a StopCCN."""

    GENERAL_REQUEST_TO_CLEAR = 1
    GENERAL_ERROR = 2
    CONTROL_CHANNEL_ALREADY_EXISTS = 3
    NOT_AUTHORIZED = 4
    PROTOCOL_VERSION_NOT_SUPPORTED = 5
    BEING_SHUT_DOWN = 6
    FSM_ERROR = 7


class CdnResult(IntEnum):
    """RFC 2661 §4.4.2 Result Code values in a CDN."""

    LOST_CARRIER = 1
    GENERAL_ERROR = 2
    ADMINISTRATIVE = 3
    TEMPORARY_LACK_OF_FACILITIES = 4
    PERMANENT_LACK_OF_FACILITIES = 5
    INVALID_DESTINATION = 6
    NO_CARRIER = 7
    BUSY = 8
    NO_DIAL_TONE = 9
    NOT_ESTABLISHED_IN_TIME = 10
    NO_APPROPRIATE_FRAMING = 11


class ErrorCode(IntEnum):
    """RFC 2661 §4.4.2 General Error Codes (the Result Code AVP's second field)."""

    NO_ERROR = 0
    NO_CONTROL_CONNECTION = 1
    LENGTH_WRONG = 2
    VALUE_OUT_OF_RANGE = 3
    INSUFFICIENT_RESOURCES = 4
    INVALID_SESSION_ID = 5
    VENDOR_SPECIFIC = 6
    TRY_ANOTHER = 7
    UNKNOWN_MANDATORY_AVP = 8


class FramingBits(IntEnum):
    """RFC 2661 §4.4.3 Framing Capabilities / §4.4.5 Framing Type bits."""

    SYNCHRONOUS = 1
    ASYNCHRONOUS = 2


class ProxyAuthenType(IntEnum):
    """RFC 2661 §4.4.5 Proxy Authen Type values."""

    RESERVED = 0
    TEXTUAL = 1
    PPP_CHAP = 2
    PPP_PAP = 3
    NO_AUTHENTICATION = 4
    MSCHAP_V1 = 5
