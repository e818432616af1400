"""The checks `invoke verify` runs, as they are: one set of checks proves both paths."""

from queueops.observe.verify.checks.test_queueops import *  # noqa: F403
