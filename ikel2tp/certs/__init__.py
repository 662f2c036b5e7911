"""Certificates for ikel2tp: a small CA for the VPN (``ikel2tp certs``) and the X.509 checks IKE uses.

- :mod:`.ca` — the CA directory (keys, issued certificates, index, CRL) and its operations.
- :mod:`.profiles` — what each kind of certificate carries (rules as data).
- :mod:`.bundle` — PKCS#12 bundles for Windows, macOS and iOS.
- :mod:`.report` — human-readable description and the warnings for what Windows rejects.
- :mod:`.verify` — peer chain validation, IKE ID matching and IKEv1 RSA signatures.
"""
