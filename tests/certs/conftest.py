"""A CA made once per session (RSA 2048 keys keep the suite fast) and copied for each test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ikel2tp.certs.ca import CertificateAuthority

FAST_KEY = "rsa2048"
FIXTURES = Path(__file__).resolve().parents[2] / "certs" / "fixtures"


@pytest.fixture(scope="session")
def session_ca(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    return CertificateAuthority.create(tmp_path_factory.mktemp("session") / "ca", key_type=FAST_KEY)


@pytest.fixture
def ca(session_ca: CertificateAuthority, tmp_path: Path) -> CertificateAuthority:
    """A private copy of the session CA (tests issue and revoke freely)."""
    return CertificateAuthority.open(shutil.copytree(session_ca.directory, tmp_path / "ca"))
