"""User backends: the local ``[[users]]`` table now, RADIUS later (:mod:`ikel2tp.users.base`)."""
