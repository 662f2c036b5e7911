"""ikel2tp: an L2TP/IPsec VPN endpoint (IKEv1 responder, ESP, L2TP LNS, PPP) in one process."""

__version__ = "0.1.0"
