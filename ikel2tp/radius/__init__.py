"""RADIUS client: a sans-I/O codec and client core (RFC 2865, 2866, 2869, 3579, 2548, 5176).

``constants`` (codes, attribute types, vendor attributes), ``packet`` (the wire codec),
``crypto`` (authenticators, password hiding), ``client`` (the :class:`RadiusClient` core:
authentication, accounting, retransmission, failover), ``das`` (Disconnect-Request listener core),
``settings`` (the ``[radius]`` configuration section).  The asyncio adapter is
:mod:`ikel2tp.users.radius`.
"""
