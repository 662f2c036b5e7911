"""Configurations and a certificate authority for the client-config tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ikel2tp.certs.ca import CertificateAuthority
from ikel2tp.config import Config
from ikel2tp.onboarding import ClientInputs, resolve

FAST_KEY = "rsa2048"
PSK = "onboarding-psk-Hq4wZ8mXr2TbV7nY"
SERVER = "vpn.example.com"
USER = "alice"
PASSWORD = "correct horse 'battery' staple"
P12_PASSWORD = "p12-secret-Wq8z"
ALICE = {"name": USER, "nt_hash": "8846f7eaee8fb117ad06bdd830b7586c"}


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CA with a server certificate and alice's PKCS#12 (password file beside it)."""
    ca = CertificateAuthority.create(tmp_path_factory.mktemp("pki") / "ca", key_type=FAST_KEY)
    server = ca.issue_server([SERVER], key_type=FAST_KEY)
    ca.issue_client(USER, password=P12_PASSWORD, password_file=True, key_type=FAST_KEY)
    return {"cert": server.files["certificate"], "key": server.files["key"], "ca": ca.cert_path,
            "p12": ca.p12_path(USER)}


@pytest.fixture
def inputs(make_config: Callable[..., Config]) -> Callable[..., ClientInputs]:
    """``inputs(ike={...}, password=..., **resolve_options)``: resolved inputs for alice on SERVER."""
    def make(*, server: dict[str, Any] | None = None, ike: dict[str, Any] | None = None,
             ppp: dict[str, Any] | None = None, l2tp: dict[str, Any] | None = None,
             **options: Any) -> ClientInputs:
        ike = dict(ike or {})
        if not {"psk", "cert"} & ike.keys():
            ike["psk"] = PSK
        config = make_config(server=server or {"masquerade": True}, ike=ike, ppp=ppp or {},
                             l2tp=l2tp or {}, users=[ALICE])
        options.setdefault("server", SERVER)
        return resolve(config, USER, **options)
    return make


@pytest.fixture
def cert_ike(pki: dict[str, Path]) -> dict[str, str]:
    return {"cert": str(pki["cert"]), "key": str(pki["key"]), "ca": str(pki["ca"])}
