"""Inventories: load and merge them, validate each host, select hosts from the command line."""
