"""Which protocol cores the server needs, and a start-up check that names any that are missing.

The server never pretends: if a core it wires is not importable it refuses to start with one line
naming what is missing, instead of running half a VPN.
"""

from __future__ import annotations

import importlib

# (what the admin reads, module, attribute the server uses)
REQUIRED: tuple[tuple[str, str, str], ...] = (
    ("configuration", "ikel2tp.config", "load_config"),
    ("embedded default configuration", "ikel2tp.config", "ensure_default_config"),
    ("IKE core", "ikel2tp.ike.manager", "IkeManager"),
    ("data plane registry", "ikel2tp.dataplane.base", "create_dataplane"),
    ("L2TP LNS core", "ikel2tp.l2tp.lns", "Lns"),
    ("PPP core", "ikel2tp.ppp.link", "PppLink"),
    ("address pool", "ikel2tp.pool", "AddressPool"),
    ("local user backend", "ikel2tp.users.local", "LocalUserBackend"),
)


def missing_cores(required: tuple[tuple[str, str, str], ...] = REQUIRED) -> list[str]:
    """``["IKE core (ikel2tp.ike.manager.IkeManager)", ...]`` for every piece that does not import."""
    missing: list[str] = []
    for label, module_name, attribute in required:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            missing.append(f"{label} ({module_name}.{attribute})")
            continue
        if not hasattr(module, attribute):
            missing.append(f"{label} ({module_name}.{attribute})")
    return missing
