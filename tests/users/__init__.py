"""Tests of ikel2tp.users and the users CLI."""
