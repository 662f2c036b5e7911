"""ESP data planes behind one :class:`~ikel2tp.dataplane.base.DataPlane` Protocol.

``userspace`` (ESP in this process), ``xfrm`` (Linux kernel over netlink) and ``fake`` (tests of the
layers above); :func:`ikel2tp.dataplane.base.create_dataplane` picks one.
"""
