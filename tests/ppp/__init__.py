"""Tests of ikel2tp.ppp (mirrors the package)."""
