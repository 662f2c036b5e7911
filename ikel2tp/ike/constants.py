"""ISAKMP/IKEv1 wire constants, named as in RFC 2407, 2408, 2409, 3706, 3947, 4106, 4868 and the
NAT-T drafts.  Values only: which payloads an exchange carries is in :mod:`ikel2tp.ike.rules`."""

from __future__ import annotations

from enum import IntEnum, IntFlag

ISAKMP_VERSION = 0x10  # RFC 2408 §3.1: major 1, minor 0
IKE_PORT = 500
NATT_PORT = 4500
DOI_IPSEC = 1  # RFC 2407 §4.2
SIT_IDENTITY_ONLY = 1  # RFC 2407 §4.2.1
KEY_IKE = 1  # RFC 2407 §4.4.2: the only ISAKMP transform ID


class ExchangeType(IntEnum):
    """RFC 2408 §3.1, RFC 2409 §5.5 (QUICK_MODE) and §5.6 (NEW_GROUP_MODE)."""

    BASE = 1
    IDENTITY_PROTECTION = 2  # Main Mode
    AUTHENTICATION_ONLY = 3
    AGGRESSIVE = 4
    INFORMATIONAL = 5
    QUICK_MODE = 32
    NEW_GROUP_MODE = 33
    TRANSACTION = 6  # draft-ietf-ipsec-isakmp-mode-cfg (XAUTH/Mode Config)


class Flag(IntFlag):
    """RFC 2408 §3.1 header flags."""

    ENCRYPTION = 0x01
    COMMIT = 0x02
    AUTHENTICATION_ONLY = 0x04


class PayloadType(IntEnum):
    """RFC 2408 §3.1, RFC 3947 §3.2/§5.2, draft-ietf-ipsec-nat-t-ike-02/03, IKE fragmentation."""

    NONE = 0
    SA = 1
    PROPOSAL = 2
    TRANSFORM = 3
    KE = 4
    ID = 5
    CERT = 6
    CERTREQ = 7
    HASH = 8
    SIG = 9
    NONCE = 10
    N = 11
    D = 12
    VID = 13
    NAT_D = 20
    NAT_OA = 21
    NAT_D_DRAFT = 130
    NAT_OA_DRAFT = 131
    FRAGMENT = 132


class ProtocolId(IntEnum):
    """RFC 2407 §4.4.1."""

    ISAKMP = 1
    IPSEC_AH = 2
    IPSEC_ESP = 3
    IPCOMP = 4


class Phase1Attribute(IntEnum):
    """RFC 2409 Appendix A, attribute classes."""

    ENCRYPTION_ALGORITHM = 1
    HASH_ALGORITHM = 2
    AUTHENTICATION_METHOD = 3
    GROUP_DESCRIPTION = 4
    GROUP_TYPE = 5
    GROUP_PRIME = 6
    GROUP_GENERATOR_ONE = 7
    GROUP_GENERATOR_TWO = 8
    GROUP_CURVE_A = 9
    GROUP_CURVE_B = 10
    LIFE_TYPE = 11
    LIFE_DURATION = 12
    PRF = 13
    KEY_LENGTH = 14
    FIELD_SIZE = 15
    GROUP_ORDER = 16


class Phase1Encryption(IntEnum):
    """RFC 2409 Appendix A, IANA "Encryption Algorithm" (AES: RFC 3602 §5)."""

    DES_CBC = 1
    IDEA_CBC = 2
    BLOWFISH_CBC = 3
    RC5_R16_B64_CBC = 4
    TRIPLEDES_CBC = 5
    CAST_CBC = 6
    AES_CBC = 7


class Phase1Hash(IntEnum):
    """RFC 2409 Appendix A, IANA "Hash Algorithm" (SHA2: RFC 4868 §2.4 registry)."""

    MD5 = 1
    SHA = 2
    TIGER = 3
    SHA2_256 = 4
    SHA2_384 = 5
    SHA2_512 = 6


class AuthMethod(IntEnum):
    """RFC 2409 Appendix A, IANA "Authentication Method" (+ XAUTH draft values)."""

    PRE_SHARED_KEY = 1
    DSS_SIGNATURES = 2
    RSA_SIGNATURES = 3
    RSA_ENCRYPTION = 4
    RSA_REVISED_ENCRYPTION = 5
    ECDSA_SHA256 = 9
    ECDSA_SHA384 = 10
    ECDSA_SHA512 = 11
    XAUTH_INIT_PSK = 65001
    XAUTH_RESP_PSK = 65002
    XAUTH_INIT_RSA = 65005
    XAUTH_RESP_RSA = 65006


class LifeType(IntEnum):
    """RFC 2409 Appendix A and RFC 2407 §4.5 (same values in both phases)."""

    SECONDS = 1
    KILOBYTES = 2


class Phase2Attribute(IntEnum):
    """RFC 2407 §4.5 IPsec security association attributes."""

    SA_LIFE_TYPE = 1
    SA_LIFE_DURATION = 2
    GROUP_DESCRIPTION = 3
    ENCAPSULATION_MODE = 4
    AUTHENTICATION_ALGORITHM = 5
    KEY_LENGTH = 6
    KEY_ROUNDS = 7
    COMPRESS_DICTIONARY_SIZE = 8
    COMPRESS_PRIVATE_ALGORITHM = 9


class EncapsulationMode(IntEnum):
    """RFC 2407 §4.5, RFC 3947 §5.1, draft-ietf-ipsec-nat-t-ike-02/03 private values."""

    TUNNEL = 1
    TRANSPORT = 2
    UDP_TUNNEL_RFC = 3
    UDP_TRANSPORT_RFC = 4
    UDP_TUNNEL_DRAFT = 61443
    UDP_TRANSPORT_DRAFT = 61444


class EspTransform(IntEnum):
    """RFC 2407 §4.4.4 IPSEC ESP transform identifiers (AES: RFC 3602; GCM: RFC 4106 §8.1)."""

    ESP_DES = 2
    ESP_3DES = 3
    ESP_NULL = 11
    ESP_AES = 12
    ESP_AES_GCM_8 = 18
    ESP_AES_GCM_12 = 19
    ESP_AES_GCM_16 = 20


class AuthAlgorithm(IntEnum):
    """RFC 2407 §4.5 Authentication Algorithm, RFC 4868 §2.4 (SHA2 values)."""

    HMAC_MD5 = 1
    HMAC_SHA = 2
    DES_MAC = 3
    KPDK = 4
    HMAC_SHA2_256 = 5
    HMAC_SHA2_384 = 6
    HMAC_SHA2_512 = 7


class IdType(IntEnum):
    """RFC 2407 §4.6.2.1 identification types."""

    ID_IPV4_ADDR = 1
    ID_FQDN = 2
    ID_USER_FQDN = 3
    ID_IPV4_ADDR_SUBNET = 4
    ID_IPV6_ADDR = 5
    ID_IPV6_ADDR_SUBNET = 6
    ID_IPV4_ADDR_RANGE = 7
    ID_IPV6_ADDR_RANGE = 8
    ID_DER_ASN1_DN = 9
    ID_DER_ASN1_GN = 10
    ID_KEY_ID = 11


class CertEncoding(IntEnum):
    """RFC 2408 §3.9."""

    PKCS7 = 1
    PGP = 2
    DNS_SIGNED_KEY = 3
    X509_SIGNATURE = 4
    X509_KEY_EXCHANGE = 5
    KERBEROS = 6
    CRL = 7
    ARL = 8
    SPKI = 9
    X509_ATTRIBUTE = 10


class NotifyType(IntEnum):
    """RFC 2408 §3.14.1 error types, RFC 2407 §4.6.3 status types, RFC 3706 §5 (DPD)."""

    INVALID_PAYLOAD_TYPE = 1
    DOI_NOT_SUPPORTED = 2
    SITUATION_NOT_SUPPORTED = 3
    INVALID_COOKIE = 4
    INVALID_MAJOR_VERSION = 5
    INVALID_MINOR_VERSION = 6
    INVALID_EXCHANGE_TYPE = 7
    INVALID_FLAGS = 8
    INVALID_MESSAGE_ID = 9
    INVALID_PROTOCOL_ID = 10
    INVALID_SPI = 11
    INVALID_TRANSFORM_ID = 12
    ATTRIBUTES_NOT_SUPPORTED = 13
    NO_PROPOSAL_CHOSEN = 14
    BAD_PROPOSAL_SYNTAX = 15
    PAYLOAD_MALFORMED = 16
    INVALID_KEY_INFORMATION = 17
    INVALID_ID_INFORMATION = 18
    INVALID_CERT_ENCODING = 19
    INVALID_CERTIFICATE = 20
    CERT_TYPE_UNSUPPORTED = 21
    INVALID_CERT_AUTHORITY = 22
    INVALID_HASH_INFORMATION = 23
    AUTHENTICATION_FAILED = 24
    INVALID_SIGNATURE = 25
    ADDRESS_NOTIFICATION = 26
    NOTIFY_SA_LIFETIME = 27
    CERTIFICATE_UNAVAILABLE = 28
    UNSUPPORTED_EXCHANGE_TYPE = 29
    UNEQUAL_PAYLOAD_LENGTHS = 30
    CONNECTED = 16384
    RESPONDER_LIFETIME = 24576
    REPLAY_STATUS = 24577
    INITIAL_CONTACT = 24578
    R_U_THERE = 36136
    R_U_THERE_ACK = 36137


# Vendor IDs (a received VID matches when it starts with one of these; see tasks/vendor.py).


VID_NATT_RFC3947 = bytes.fromhex("4a131c81070358455c5728f20e95452f")  # MD5("RFC 3947")
VID_NATT_DRAFT_02 = bytes.fromhex("cd60464335df21f87cfdb2fc68b6a448")  # MD5("draft-ietf-ipsec-nat-t-ike-02")
VID_NATT_DRAFT_02N = bytes.fromhex("90cb80913ebb696e086381b5ec427b1f")  # MD5("...-02\n")
VID_NATT_DRAFT_03 = bytes.fromhex("7d9419a65310ca6f2c179d9215529d56")  # MD5("draft-ietf-ipsec-nat-t-ike-03")
VID_DPD = bytes.fromhex("afcad71368a1f1c96b8696fc77570100")  # RFC 3706 §5.1
VID_FRAGMENTATION = bytes.fromhex("4048b7d56ebce88525e7de7f00d6c2d3")  # MD5("FRAGMENTATION")
VID_FRAGMENTATION_CAPS = VID_FRAGMENTATION + bytes.fromhex("80000000")
VID_MS_NT5 = bytes.fromhex("1e2b516905991c7d7c96fcbfb587e461")  # MD5("MS NT5 ISAKMPOAKLEY") + version
VID_MS_NEGOTIATION_DISCOVERY = bytes.fromhex("fb1de3cdf341b7ea16b7e5be0855f120")
VID_MS_INITIAL_CONTACT = bytes.fromhex("26244d38eddb61b3172a36e3d0cfb819")
VID_MS_IKE_CGA = bytes.fromhex("e3a5966a76379fe707228231e5ce8652")
VID_STRONGSWAN = bytes.fromhex("882fe56d6fd20dbc2251613b2ebe5beb")
VID_XAUTH = bytes.fromhex("09002689dfd6b712")
VID_CISCO_UNITY = bytes.fromhex("12f5f28c457168a9702d9fe274cc0100")
VID_KAME_RACOON = bytes.fromhex("7003cbc1097dbe9c2600ba6983bc8b35")
