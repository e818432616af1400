"""Incident runbooks: each one's operator half beside its host half (host_*.py)."""
