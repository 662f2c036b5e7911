"""Android up to 11: the built-in client takes no profile file, so this is the list of fields to type.

Android's racoon offers only MODP1024 in phase 1 (:data:`ikel2tp.onboarding.offers.ANDROID`): when the
server's policy allows none of those suites the text, and the command, say so loudly.  Android 12
removed L2TP/IPsec from the built-in client.
"""

from __future__ import annotations

from ikel2tp.onboarding import offers
from ikel2tp.onboarding.common import Bundle, ClientInputs, GeneratedFile, cert_files, file_stem

ANDROID_12_NOTE = (
    "Android 12 and later no longer offer L2TP/IPsec in Settings (only IKEv2/IPsec), and ikel2tp "
    "speaks IKEv1 + L2TP only. On those phones use a third-party L2TP/IPsec app if one fits your "
    "needs, or another VPN server that supports IKEv2 for them.")


def modp1024_warning(inputs: ClientInputs) -> str | None:
    """The loud warning when no MODP1024 suite Android offers is in [ike] phase1."""
    if offers.accepted_phase1(offers.ANDROID.phase1, inputs.config.ike.phase1):
        return None
    wanted = ", ".join(map(str, offers.ANDROID.phase1))
    return ("ANDROID CANNOT CONNECT: Android (racoon) offers only MODP1024 in phase 1 "
            f"({wanted}) and [ike] phase1 allows none of them. Add e.g. \"aes128-sha1-modp1024\" to [ike] "
            "phase1 if Android clients must connect (MODP1024 is weak: allow it only for them).")


def generate(inputs: ClientInputs) -> Bundle:
    """A text file with the fields of Settings > Network & internet > VPN > Add."""
    cert = inputs.cert
    stem = file_stem(inputs.user)
    rows = [("Name", inputs.name),
            ("Type", "L2TP/IPSec PSK" if cert is None else "L2TP/IPSec RSA"),
            ("Server address", inputs.server),
            ("L2TP secret", inputs.config.l2tp.secret or "(not used: leave empty)"),
            ("IPSec identifier", "(not used: leave empty)")]
    secrets = [("L2TP secret", inputs.config.l2tp.secret)] if inputs.config.l2tp.secret else []
    if cert is None:
        assert inputs.psk is not None
        rows.append(("IPSec pre-shared key", inputs.psk))
        secrets.append(("IPSec pre-shared key", inputs.psk))
    else:
        rows += [("IPSec user certificate", f"the one installed from {cert.p12_name}"),
                 ("IPSec CA certificate", "the VPN CA installed from ca.cer"),
                 ("IPSec server certificate", "(received from server)")]
    rows.append(("Username", inputs.user))
    if inputs.password is not None:
        rows.append(("Password", inputs.password))
        secrets.append(("password", inputs.password))
    else:
        rows.append(("Password", "(the password you were given for this VPN)"))
    lines = [f"{inputs.name}: L2TP/IPsec VPN for {inputs.user} on Android up to 11",
             "(written by `ikel2tp client-config`; it holds secrets: delete it once the VPN works)", ""]
    warning = modp1024_warning(inputs)
    if warning:
        lines += ["!" * 72, warning, "!" * 72, ""]
    if cert is not None:
        lines += ["First install the certificates: Settings > Security > Encryption & credentials > "
                  f"Install a certificate > VPN & app user certificate ({cert.p12_name}, it asks for its "
                  "password), and CA certificate (ca.cer).", ""]
    lines.append("Settings > Network & internet > VPN > + (Add VPN), then type:")
    width = max(len(label) for label, _ in rows)
    lines += [f"  {label + ':':<{width + 1}} {value}" for label, value in rows]
    lines += ["", "Android uses MODP1024 (DH group 2) for IPsec phase 1; the server's policy must allow it.",
              ANDROID_12_NOTE]
    files = [GeneratedFile(f"{stem}-android.txt", ("\n".join(lines) + "\n").encode("utf-8"))]
    if cert is not None:
        files.extend(cert_files(cert))
        if cert.p12_password is not None:
            secrets.append(("PKCS#12 password", cert.p12_password))
    # The MODP1024 warning replaces the generic phase 1 one.
    warnings = [w for w in (warning, offers.phase2_problem(offers.ANDROID, inputs.config)) if w]
    return Bundle(tuple(files), ("Android 12+ has no L2TP/IPsec client: see the note in the text file",),
                  tuple(warnings), tuple(secrets))
