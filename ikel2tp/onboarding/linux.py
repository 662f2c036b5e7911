"""Linux: a NetworkManager-l2tp connection, as a keyfile (``.nmconnection``) and as an ``nmcli`` command.

The keys are NetworkManager-l2tp's (``shared/nm-service-defines.h``): ``gateway``, ``user``,
``ipsec-enabled``, ``ipsec-psk`` (written ``0s`` + base64, which nm-l2tp passes to the IPsec daemon's
secrets file unchanged), ``ipsec-ike``/``ipsec-esp`` (copied into the ``ike=``/``esp=`` lines of the
daemon's ipsec.conf), ``refuse-*`` (pppd options), ``mru``/``mtu``.  Unlike the other clients, this
one proposes exactly what we write, so the proposals are the server's own suites
(:func:`ikel2tp.onboarding.offers.linux_proposals`).
"""

from __future__ import annotations

import base64
import shlex
import uuid

from ikel2tp.onboarding import offers
from ikel2tp.onboarding.common import (
    Bundle,
    ClientInputs,
    GeneratedFile,
    ca_file_names,
    cert_files,
    file_stem,
)

SERVICE_TYPE = "org.freedesktop.NetworkManager.l2tp"
# nm-l2tp secret flags: 0 = stored with the connection, 2 = not saved (asked for on every connect).
SAVED, NOT_SAVED = "0", "2"
# Where the install script puts certificate files in certificate mode (root only).
CERT_DIR = "/etc/NetworkManager/ikel2tp"
# [ppp] auth name -> the nm-l2tp key that refuses it; MS-CHAPv1 and EAP are never used by ikel2tp.
REFUSE_KEYS = {"pap": "refuse-pap", "chap": "refuse-chap", "mschapv2": "refuse-mschapv2"}
ALWAYS_REFUSED = ("refuse-eap", "refuse-mschap")


def nm_psk(psk: str) -> str:
    """The ``0s`` + base64 form: nm-l2tp writes a value starting with ``0s`` as it is, so a PSK that
    itself begins with "0s" would otherwise be misread."""
    return "0s" + base64.b64encode(psk.encode("utf-8")).decode("ascii")


def vpn_settings(inputs: ClientInputs, daemon: str) -> tuple[dict[str, str], dict[str, str]]:
    """(``[vpn]`` data, ``[vpn-secrets]``) of the connection, shared by the keyfile and the nmcli command."""
    config = inputs.config
    ike, esp = offers.linux_proposals(config, daemon)
    data = {"gateway": inputs.server, "user": inputs.user, "user-auth-type": "password",
            "password-flags": SAVED if inputs.password is not None else NOT_SAVED, "ipsec-enabled": "yes",
            "ipsec-ike": offers.nm_algorithms(ike, daemon), "ipsec-esp": offers.nm_algorithms(esp, daemon)}
    secrets: dict[str, str] = {}
    if inputs.password is not None:
        secrets["password"] = inputs.password
    if inputs.cert is None:
        assert inputs.psk is not None
        data.update({"machine-auth-type": "psk", "ipsec-psk-flags": SAVED})
        secrets["ipsec-psk"] = nm_psk(inputs.psk)
    else:
        cert = inputs.cert
        folder = f"{CERT_DIR}/{file_stem(inputs.user)}"
        data.update({"machine-auth-type": "tls", "machine-ca": f"{folder}/{ca_file_names(cert)[0]}",
                     "machine-cert": f"{folder}/{cert.p12_name}", "machine-key": f"{folder}/{cert.p12_name}",
                     "machine-certpass-flags": SAVED if cert.p12_password is not None else NOT_SAVED})
        if cert.p12_password is not None:
            secrets["machine-certpass"] = cert.p12_password
    if daemon == "libreswan" and all(s.pfs_group is None for s in offers.linux_suites(config, daemon)[1]):
        data["ipsec-pfs"] = "no"  # libreswan proposes PFS unless told not to; our suites have none
    if config.ike.force_encapsulation:
        data["ipsec-forceencaps"] = "yes"
    for key in ALWAYS_REFUSED:
        data[key] = "yes"
    for method, key in REFUSE_KEYS.items():
        if method not in config.ppp.auth:
            data[key] = "yes"
    data.update({"mru": str(config.ppp.mru), "mtu": str(config.ppp.mtu)})
    return data, secrets


def _keyfile_value(text: str) -> str:
    """GKeyFile escaping (what NetworkManager's keyfile reader undoes): backslash, leading blank."""
    text = text.replace("\\", "\\\\")
    return "\\s" + text[1:] if text.startswith(" ") else text


def keyfile(inputs: ClientInputs, daemon: str, connection_uuid: str) -> str:
    data, secrets = vpn_settings(inputs, daemon)
    sections = {
        "connection": {"id": inputs.name, "uuid": connection_uuid, "type": "vpn", "autoconnect": "false"},
        "vpn": {"service-type": SERVICE_TYPE, **data},
        "vpn-secrets": secrets,
        "ipv4": {"method": "auto", **({} if inputs.full_tunnel else {"never-default": "true"})},
        "ipv6": {"method": "ignore"},  # PPP here carries IPv4 only
    }
    out = [f"# {inputs.name}: L2TP/IPsec VPN for {inputs.user}, written by `ikel2tp client-config` "
           f"(NetworkManager-l2tp with {daemon}). Holds secrets: keep it 0600."]
    for section, values in sections.items():
        if values:
            out.append(f"\n[{section}]")
            out.extend(f"{key}={_keyfile_value(value)}" for key, value in values.items())
    return "\n".join(out) + "\n"


def _nmcli_list(values: dict[str, str]) -> str:
    """nmcli's ``vpn.data``/``vpn.secrets`` syntax: ``key=value`` items joined by ", "; a comma or
    backslash inside a value is escaped with a backslash."""
    return ", ".join(f"{k}={v.replace(chr(92), chr(92) * 2).replace(',', chr(92) + ',')}"
                     for k, v in values.items())


def nmcli_script(inputs: ClientInputs, daemon: str, connection_uuid: str) -> str:
    data, secrets = vpn_settings(inputs, daemon)
    settings = [("connection.uuid", connection_uuid), ("connection.autoconnect", "no"),
                ("vpn.data", _nmcli_list(data))]
    if secrets:
        settings.append(("vpn.secrets", _nmcli_list(secrets)))
    settings += [("ipv4.method", "auto"), ("ipv6.method", "ignore")]
    if not inputs.full_tunnel:
        settings.append(("ipv4.never-default", "yes"))
    command = [f"nmcli connection add type vpn vpn-type l2tp con-name {shlex.quote(inputs.name)}"]
    command += [f"{key} {shlex.quote(value)}" for key, value in settings]
    lines = ["#!/bin/sh",
             f"# {inputs.name}: L2TP/IPsec VPN for {inputs.user}, written by `ikel2tp client-config`.",
             f"# Needs NetworkManager-l2tp with {daemon} (Debian/Ubuntu: network-manager-l2tp). Run as root:",
             "#   sudo sh <this file>",
             "# It holds secrets: delete it once the connection works.",
             "set -eu",
             f"nmcli connection delete uuid {connection_uuid} 2>/dev/null || true"]
    if inputs.cert is not None:
        folder = f"{CERT_DIR}/{file_stem(inputs.user)}"
        lines.append('here=$(dirname "$0")')
        lines.append(f"install -d -m 0700 {shlex.quote(folder)}")
        for item in cert_files(inputs.cert):
            lines.append(f'install -m 0600 "$here"/{shlex.quote(item.name)} {shlex.quote(folder)}/')
    lines.append(" \\\n    ".join(command))
    lines.append(f"echo 'Connect with: nmcli connection up uuid {connection_uuid} --ask'")
    return "\n".join(lines) + "\n"


def connection_uuid(inputs: ClientInputs) -> str:
    """The same UUID for the same server and user, so a new profile replaces the old connection."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"ikel2tp:l2tp:{inputs.server}:{inputs.user}"))


def generate(inputs: ClientInputs, daemon: str = "strongswan") -> Bundle:
    """The keyfile, the equivalent nmcli script and, in certificate mode, the files they refer to."""
    conn_uuid = connection_uuid(inputs)
    stem = file_stem(inputs.user)
    files = [GeneratedFile(f"{stem}.nmconnection", keyfile(inputs, daemon, conn_uuid).encode()),
             GeneratedFile(f"{stem}-nmcli.sh", nmcli_script(inputs, daemon, conn_uuid).encode())]
    if inputs.cert is not None:
        files.extend(cert_files(inputs.cert))
    warnings, notes = [], []
    ike, esp = offers.linux_suites(inputs.config, daemon)
    configured = (*inputs.config.ike.phase1, *inputs.config.ike.phase2)
    dropped = [str(s) for s in configured if s not in (*ike, *esp)]
    if dropped:
        notes.append(f"{daemon} cannot propose {', '.join(dropped)}: left out of the Linux profile")
    if not ike or not esp:
        warnings.append(f"a NetworkManager-l2tp client with {daemon} cannot connect: no configured "
                        f"phase {'1' if not ike else '2'} suite is usable; try --linux-ipsec strongswan")
    p12_password = inputs.cert.p12_password if inputs.cert is not None else None
    secrets = [(label, value) for label, value in (("IPsec pre-shared key", inputs.psk),
                                                   ("password", inputs.password),
                                                   ("PKCS#12 password", p12_password)) if value is not None]
    notes += [f"either: sudo sh {stem}-nmcli.sh  or: sudo install -m 600 {stem}.nmconnection "
             "/etc/NetworkManager/system-connections/ && sudo nmcli connection reload"]
    if inputs.cert is not None:
        notes.append(f"certificate mode: the profile expects the .p12 and CA in {CERT_DIR}/{stem}/ "
                     "(the nmcli script copies them there)")
    return Bundle(tuple(files), tuple(notes), tuple(warnings), tuple(secrets))
