"""ESP (RFC 4303) in transport mode, sans-I/O: packet codec, transforms, anti-replay window, SA state.

Nothing here touches a socket or a clock: the data-plane backends in :mod:`ikel2tp.dataplane` feed
bytes (and ``now`` where lifetimes need it) in and take bytes and events out.
"""
