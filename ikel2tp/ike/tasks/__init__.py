"""IKEv1 tasks, one per concern, each with both roles (strongSwan-style): vendor IDs, NAT
detection, Main Mode, Quick Mode, Informational and DPD."""
