"""``ikel2tp proposals``: explain phase 1 / phase 2 (and PPP) mismatches in plain words.

Selection itself lives only in :mod:`ikel2tp.ike.proposal`; this package feeds it client offers
(built-in profiles, captures, probes) and turns its :class:`~ikel2tp.ike.proposal.Refusal` into
one line per refusal naming the field, both sides' values and the configuration line that fixes it.
"""
