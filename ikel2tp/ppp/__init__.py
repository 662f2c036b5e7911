"""PPP (RFC 1661) for L2TP sessions, sans-I/O: :class:`ikel2tp.ppp.link.PppLink` is the entry point."""
