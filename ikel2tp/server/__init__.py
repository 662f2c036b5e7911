"""The asyncio shell around the sans-I/O cores: sockets, TUN, timers, control socket, wiring."""
