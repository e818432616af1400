"""Reaching hosts: one SSH session each, one fleet loop, the agent program and its protocol."""
