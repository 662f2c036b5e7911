"""Cryptographic building blocks for the IKE core: Diffie-Hellman groups, PRF/hash, CBC ciphers."""
