"""IKEv1 (RFC 2407, 2408, 2409) as a sans-I/O core: codecs, key material, tasks, SA manager."""
