"""L2TP Network Server (RFC 2661) as a sans-I/O core: codecs, reliable control channel, tunnels, sessions."""
