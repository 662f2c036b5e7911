"""Every secret and name survives each output format's quoting (property tests)."""

from __future__ import annotations

import plistlib

from hypothesis import given, settings
from hypothesis import strategies as st

from ikel2tp.config import config_from_dict
from ikel2tp.onboarding import apple, linux, windows
from ikel2tp.onboarding.common import ClientInputs

from .conftest import ALICE, PSK, USER

# What the configuration accepts for names and secrets: no control characters (plus no unassigned or
# private-use code points, which no keyboard produces).
TEXT = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Co", "Cn")), min_size=1, max_size=40)


def ps_unquote(text: str) -> str:
    """PowerShell's reading of a verbatim string: any of its single-quote characters ends it unless
    doubled (a doubled pair reads as one)."""
    assert text[0] == text[-1] == "'"
    out, index, body = [], 0, text[1:-1]
    while index < len(body):
        char = body[index]
        if char in windows.PS_SINGLE_QUOTES:
            assert index + 1 < len(body) and body[index + 1] in windows.PS_SINGLE_QUOTES, "string ends early"
            index += 1
        out.append(char)
        index += 1
    return "".join(out)


def keyfile_unescape(text: str) -> str:
    """GKeyFile's reading of a value (the escapes linux._keyfile_value writes)."""
    out, index = [], 0
    while index < len(text):
        char = text[index]
        if char == "\\":
            out.append({"\\": "\\", "s": " "}[text[index + 1]])
            index += 2
        else:
            out.append(char)
            index += 1
    return "".join(out)


def nmcli_split(value: str) -> dict[str, str]:
    """nmcli's reading of vpn.data / vpn.secrets: ", "-separated key=value, backslash escapes."""
    items, current, escaped = [], "", False
    for char in value:
        if escaped:
            current, escaped = current + char, False
        elif char == "\\":
            escaped = True
        elif char == ",":
            items.append(current)
            current = ""
        else:
            current += char
    items.append(current)
    return dict(item.lstrip(" ").split("=", 1) for item in items)


@given(st.one_of(TEXT, st.text(st.sampled_from("ab'\u2018\u2019\u201a\u201b$`\""), min_size=1)))
def test_powershell_quoting(text):
    assert ps_unquote(windows.ps_quote(text)) == text


@given(TEXT)
def test_keyfile_escaping(text):
    assert keyfile_unescape(linux._keyfile_value(text)) == text


@given(st.dictionaries(st.from_regex(r"[a-z][a-z-]{0,15}", fullmatch=True), TEXT, min_size=1))
def test_nmcli_list_escaping(values):
    assert nmcli_split(linux._nmcli_list(values)) == values


CONFIG = config_from_dict({"ike": {"psk": PSK}, "users": [ALICE]}, log=None)


@settings(max_examples=50, deadline=None)
@given(psk=TEXT, password=TEXT, name=TEXT)
def test_mobileconfig_keeps_secrets_and_names(psk, password, name):
    case = ClientInputs(CONFIG, "vpn.example.com", USER, name, password, psk)
    vpn = plistlib.loads(apple.generate(case).files[0].data)["PayloadContent"][0]
    assert vpn["IPSec"]["SharedSecret"] == psk.encode()
    assert vpn["PPP"]["AuthPassword"] == password and vpn["UserDefinedName"] == name
