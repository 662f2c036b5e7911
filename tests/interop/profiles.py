"""Client profiles and the configuration files the guest's real peers run with.

strongSwan in IKEv1 takes only the first algorithm of each kind from a proposal, so every combination a
real client offers is written as a proposal of its own, in the client's order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Profile:
    """What a client offers: phase 1 (IKE) proposals in order, phase 2 (ESP) proposals, PFS or none."""

    name: str
    ike: tuple[str, ...]
    esp: tuple[str, ...]
    description: str


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(
            "windows",
            ("aes256-sha1-ecp384", "aes128-sha1-ecp256", "aes256-sha1-modp2048", "aes128-sha1-modp2048",
             "3des-sha1-modp2048", "3des-sha1-modp1024"),
            ("aes256-sha1", "aes128-sha1", "3des-sha1"),
            "Windows 10/11 built-in client: ECP384/ECP256 first, then MODP2048/1024; ESP with SHA1, no PFS",
        ),
        Profile("legacy", ("3des-sha1-modp1024",), ("3des-sha1",),
                "old Windows/Android defaults (MS KB 325158): 3DES, SHA1, DH group 2"),
        Profile("modern", ("aes256-sha256-modp2048",), ("aes256-sha256", "aes128-sha256"),
                "AES with SHA-256 and MODP2048"),
    )
}

CLIENT_MODULES = ("esp4", "xfrm_user", "af_key", "authenc", "echainiv", "des3_ede", "l2tp_ppp", "ppp_async",
                  "ppp_synctty")
SERVER_MODULES = (*CLIENT_MODULES, "xt_policy", "tun")


@dataclass(frozen=True)
class CertAuth:
    """Certificate authentication: PEM files on the host, copied into the guest's swanctl directories."""

    cert: Path
    key: Path
    ca: Path
    peer_id: str = "%any"  # the identity the other side must prove (IKEv1 ID payload)
    local_id: str | None = None  # our identity (must be in the certificate); None: strongSwan's default


def _hex(secret: str) -> str:
    return "0x" + secret.encode().hex()  # swanctl reads 0x-prefixed hex, so no quoting issue


def _secrets(name: str, psk: str | None) -> str:
    return f"secrets {{\n    {name} {{\n        secret = {_hex(psk)}\n    }}\n}}\n" if psk else ""


def _pppd_quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


CHARON_SETTINGS = """charon {
    retransmit_tries = 3
    retransmit_timeout = 2.0
    retransmit_base = 1.4
    filelog {
        interop {
            path = /interop/charon.log
            time_format = %b %e %T
            ike_name = yes
            flush_line = yes
            default = 1
            ike = 2
            cfg = 2
            knl = 2
        }
    }
}
"""


def _auth_sections(auth: CertAuth | None, files: dict, cert_name: str) -> tuple[str, str]:
    """(local, remote) swanctl auth blocks; for certificates, the files the guest needs."""
    if auth is None:
        return "auth = psk", "auth = psk"
    files[f"/etc/swanctl/x509/{cert_name}.pem"] = {"text": auth.cert.read_text()}
    files[f"/etc/swanctl/private/{cert_name}.key"] = {"text": auth.key.read_text(), "mode": "0600"}
    files["/etc/swanctl/x509ca/ca.pem"] = {"text": auth.ca.read_text()}
    indent = "\n            "
    local = f"auth = pubkey{indent}certs = {cert_name}.pem"
    if auth.local_id:
        local += f"{indent}id = {auth.local_id}"
    return local, f"auth = pubkey{indent}id = {auth.peer_id}"


def client_files(profile: Profile, server: str, user: str, password: str, *, psk: str | None,
                 cert: CertAuth | None) -> dict[str, dict]:
    """/etc files for strongSwan (initiator), xl2tpd (LAC) and pppd (MS-CHAPv2 only) in the client guest."""
    if (psk is None) == (cert is None):
        raise ValueError("a client authenticates with exactly one of psk or cert")
    files: dict[str, dict] = {"/etc/strongswan.d/zz-interop.conf": {"text": CHARON_SETTINGS}}
    local, remote = _auth_sections(cert, files, "client")
    secrets = _secrets("ike-server", psk)
    files["/etc/swanctl/swanctl.conf"] = {"mode": "0600", "text": f"""connections {{
    l2tp {{
        version = 1
        remote_addrs = {server}
        proposals = {", ".join(profile.ike)}
        local {{
            {local}
        }}
        remote {{
            {remote}
        }}
        children {{
            l2tp {{
                mode = transport
                local_ts = dynamic[udp/1701]
                remote_ts = dynamic[udp/1701]
                esp_proposals = {", ".join(profile.esp)}
            }}
        }}
    }}
}}
{secrets}"""}
    files["/etc/xl2tpd/xl2tpd.conf"] = {"text": f"""[global]
port = 1701
access control = no

[lac ikel2tp]
lns = {server}
ppp debug = yes
pppoptfile = /etc/ppp/options.ikel2tp-client
length bit = yes
redial = no
"""}
    files["/etc/ppp/options.ikel2tp-client"] = {"mode": "0600", "text": f"""ipcp-accept-local
ipcp-accept-remote
noipdefault
nodefaultroute
refuse-pap
refuse-chap
refuse-mschap
refuse-eap
noauth
name {_pppd_quote(user)}
password {_pppd_quote(password)}
usepeerdns
mtu 1400
mru 1400
noccp
lcp-echo-interval 10
lcp-echo-failure 6
debug
logfile /interop/pppd.log
"""}
    return files


@dataclass(frozen=True)
class ReferenceServer:
    """The reference L2TP/IPsec server: strongSwan responder + xl2tpd LNS + pppd requiring MS-CHAPv2."""

    psk: str | None
    users: dict[str, str]
    pool_first: str = "10.77.1.10"
    pool_last: str = "10.77.1.99"
    gateway: str = "10.77.1.1"
    dns: tuple[str, ...] = ("10.77.0.53", "10.77.0.54")
    cert: CertAuth | None = None

    def files(self, public_address: str) -> dict[str, dict]:
        """strongSwan with one connection per configured authentication (PSK and/or certificate): in
        IKEv1 main mode the responder picks the connection by the auth method the client proposes."""
        if self.psk is None and self.cert is None:
            raise ValueError("the reference server needs a psk, a cert or both")
        files: dict[str, dict] = {"/etc/strongswan.d/zz-interop.conf": {"text": CHARON_SETTINGS}}
        ike = ", ".join(dict.fromkeys(p for profile in PROFILES.values() for p in profile.ike))
        esp = ", ".join(dict.fromkeys(p for profile in PROFILES.values() for p in profile.esp))
        connections = []
        for name, auth in (("psk", None), ("cert", self.cert)):
            if (name == "psk" and self.psk is None) or (name == "cert" and self.cert is None):
                continue
            local, remote = _auth_sections(auth, files, "server")
            connections.append(f"""    l2tp-{name} {{
        version = 1
        local_addrs = {public_address}
        proposals = {ike}
        local {{
            {local}
        }}
        remote {{
            {remote}
        }}
        children {{
            l2tp {{
                mode = transport
                local_ts = dynamic[udp/1701]
                remote_ts = dynamic[udp]
                esp_proposals = {esp}
            }}
        }}
    }}
""")
        files["/etc/swanctl/swanctl.conf"] = {"mode": "0600", "text": "connections {\n" + "".join(connections)
                                              + "}\n" + _secrets("ike-any", self.psk)}
        files["/etc/xl2tpd/xl2tpd.conf"] = {"text": f"""[global]
port = 1701
listen-addr = {public_address}

[lns default]
ip range = {self.pool_first}-{self.pool_last}
local ip = {self.gateway}
require authentication = yes
name = refserver
ppp debug = yes
pppoptfile = /etc/ppp/options.ikel2tp-server
length bit = yes
"""}
        dns = "".join(f"ms-dns {d}\n" for d in self.dns)
        files["/etc/ppp/options.ikel2tp-server"] = {"text": f"""require-mschap-v2
refuse-pap
refuse-chap
refuse-mschap
refuse-eap
{dns}mtu 1400
mru 1400
noccp
nodefaultroute
lcp-echo-interval 30
lcp-echo-failure 4
debug
logfile /interop/pppd.log
"""}
        secrets_lines = "".join(f"{_pppd_quote(u)} * {_pppd_quote(p)} *\n" for u, p in self.users.items())
        files["/etc/ppp/chap-secrets"] = {"mode": "0600", "text": secrets_lines}
        return files
