"""Shared helpers for every protocol layer: bounded buffers, errors, sequence arithmetic."""
