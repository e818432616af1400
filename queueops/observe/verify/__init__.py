"""invoke verify: a testinfra suite run against each selected host (see docs/verify.md)."""
