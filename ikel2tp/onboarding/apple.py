"""macOS and iOS/iPadOS: a configuration profile (``.mobileconfig``) with one L2TP VPN payload.

Field names and types follow Apple's Device Management reference for the VPN payload
(``com.apple.vpn.managed``: VPNType, UserDefinedName, PPP, IPSec, IPv4) and the certificate payloads
(``com.apple.security.root``, ``com.apple.security.pkcs12``), apple/device-management
``mdm/profiles/*.yaml``.  Apple's L2TP client proposals cannot be set in a profile, so the server's
policy is only checked against them (:data:`ikel2tp.onboarding.offers.APPLE`).
"""

from __future__ import annotations

import plistlib
import uuid

from ikel2tp.onboarding import offers
from ikel2tp.onboarding.common import Bundle, ClientInputs, GeneratedFile, ca_file_names, file_stem

PROFILE_TYPE = "Configuration"
VPN_TYPE = "com.apple.vpn.managed"
ROOT_TYPE = "com.apple.security.root"
PKCS12_TYPE = "com.apple.security.pkcs12"


def identifier_base(inputs: ClientInputs) -> str:
    """A stable reverse-DNS identifier: installing a newer profile for the same server and user
    replaces the older one instead of adding a second VPN."""
    return f"net.ikel2tp.{file_stem(inputs.server)}.{file_stem(inputs.user)}"


def _payload(kind: str, identifier: str, display: str, **content: object) -> dict:
    """A payload dictionary; its UUID derives from the identifier, so regenerating gives the same one."""
    return {"PayloadType": kind, "PayloadVersion": 1, "PayloadIdentifier": identifier,
            "PayloadUUID": str(uuid.uuid5(uuid.NAMESPACE_URL, identifier)).upper(),
            "PayloadDisplayName": display, **content}


def build_profile(inputs: ClientInputs) -> dict:
    """The profile as a plist dictionary (what :func:`plistlib.dumps` writes)."""
    base = identifier_base(inputs)
    content: list[dict] = []
    ppp: dict[str, object] = {"CommRemoteAddress": inputs.server, "AuthName": inputs.user, "TokenCard": 0}
    if inputs.password is not None:
        ppp["AuthPassword"] = inputs.password  # without it the device asks when connecting
    if inputs.cert is None:
        assert inputs.psk is not None
        ipsec: dict[str, object] = {"AuthenticationMethod": "SharedSecret", "LocalIdentifierType": "KeyID",
                                    "SharedSecret": inputs.psk.encode("utf-8")}
    else:
        cert = inputs.cert
        for index, (name, der) in enumerate(zip(ca_file_names(cert), cert.ca_der, strict=True)):
            content.append(_payload(ROOT_TYPE, f"{base}.ca{index}", f"VPN CA ({name})",
                                    PayloadContent=der, PayloadCertificateFileName=name))
        identity = _payload(PKCS12_TYPE, f"{base}.identity", f"VPN certificate of {inputs.user}",
                            PayloadContent=cert.p12, PayloadCertificateFileName=cert.p12_name)
        if cert.p12_password is not None:
            identity["Password"] = cert.p12_password  # without it the installer asks for it
        content.append(identity)
        ipsec = {"AuthenticationMethod": "Certificate", "PayloadCertificateUUID": identity["PayloadUUID"]}
    vpn = _payload(VPN_TYPE, f"{base}.vpn", inputs.name, UserDefinedName=inputs.name, VPNType="L2TP",
                   PPP=ppp, IPSec=ipsec, IPv4={"OverridePrimary": 1 if inputs.full_tunnel else 0})
    content.insert(0, vpn)
    return _payload(PROFILE_TYPE, base, inputs.name, PayloadContent=content,
                    PayloadDescription=f"L2TP/IPsec VPN to {inputs.server} for {inputs.user} "
                                       "(written by ikel2tp client-config)")


def generate(inputs: ClientInputs) -> Bundle:
    """One ``.mobileconfig`` for macOS, iOS and iPadOS."""
    data = plistlib.dumps(build_profile(inputs), fmt=plistlib.FMT_XML, sort_keys=True)
    secrets = []
    if inputs.psk is not None:
        secrets.append(("IPsec shared secret", inputs.psk))
    if inputs.password is not None:
        secrets.append(("password", inputs.password))
    if inputs.cert is not None and inputs.cert.p12_password is not None:
        secrets.append(("PKCS#12 password", inputs.cert.p12_password))
    notes = ["open the .mobileconfig on the Mac (System Settings > Privacy & Security > Profiles) or send it "
             "to the iPhone/iPad (AirDrop, mail) and install it in Settings > General > VPN & Device "
             "Management"]
    if inputs.password is None:
        notes.append("the profile has no password: the device asks for it when connecting")
    if inputs.cert is not None:
        notes.append("iOS/iPadOS: after installing, turn on full trust for the VPN CA in Settings > "
                     "General > About > Certificate Trust Settings")
    return Bundle((GeneratedFile(f"{file_stem(inputs.user)}.mobileconfig", data),), tuple(notes),
                  tuple(offers.check_offer(offers.APPLE, inputs.config)), tuple(secrets))
