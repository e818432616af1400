"""The host side of queueops: standard-library modules sent to a host's python3 over SSH.

Nothing here may import anything but the standard library and other host-side modules
(queueops.transport.assembly sends exactly the modules a request needs).
"""
