"""Seeing the fleet: verify, status, metrics and stale workers, operator and host halves."""
