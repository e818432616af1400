"""Benchmarks on the lab: they print figures and assert nothing (docs/performance.md)."""
