"""Android <= 11: the fields to type, and a loud warning when MODP1024 is not allowed."""

from __future__ import annotations

from ikel2tp.onboarding import android

from .conftest import PSK, SERVER, USER


def _text(bundle) -> str:
    return bundle.files[0].data.decode()


def test_fields_to_type(inputs):
    bundle = android.generate(inputs())
    text = _text(bundle)
    assert bundle.files[0].name == f"{USER}-android.txt"
    for line in ("Type:                 L2TP/IPSec PSK", f"Server address:       {SERVER}",
                 f"IPSec pre-shared key: {PSK}", f"Username:             {USER}"):
        assert line in text
    assert "Android 12" in text and "MODP1024" in text
    assert not bundle.warnings and "CANNOT CONNECT" not in text


def test_warns_loudly_without_modp1024(inputs):
    bundle = android.generate(inputs(ike={"psk": PSK, "phase1": ["aes256-sha1-modp2048"]}))
    assert any("ANDROID CANNOT CONNECT" in w and "MODP1024" in w for w in bundle.warnings)
    assert "ANDROID CANNOT CONNECT" in _text(bundle)


def test_l2tp_secret_is_listed(inputs):
    text = _text(android.generate(inputs(l2tp={"secret": "tunnel-secret"})))
    assert "L2TP secret:          tunnel-secret" in text


def test_certificate_mode(inputs, cert_ike):
    bundle = android.generate(inputs(ike=cert_ike))
    assert "L2TP/IPSec RSA" in _text(bundle) and PSK not in _text(bundle)
    assert {f.name for f in bundle.files} == {f"{USER}-android.txt", "ca.cer", f"{USER}.p12"}
