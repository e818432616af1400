"""The checks `invoke verify` runs, as they are: one set of checks proves both paths.
queueops' own, then each kind's (Kind.checks)."""

import importlib

from queueops.kinds import KINDS
from queueops.observe.verify.checks.test_queueops import *  # noqa: F403

for _kind in KINDS:
    if _kind.checks is not None:
        _module = importlib.import_module(_kind.checks)
        globals().update({n: f for n, f in vars(_module).items() if n.startswith("test_")})
