#!/usr/bin/python
# Copyright: queueops
# MIT License (see galaxy.yml)
"""The documentation of the converge action (plugins/action/converge.py), which runs on the
controller."""

from __future__ import annotations

DOCUMENTATION = r"""
module: converge
short_description: Converge one queueops kind on a host, as invoke's setup task does
description:
  - Runs on the controller. Validates the role's variables as queueops does (its lint rules
    too), reads the host's facts in one run of C(queueops.laravel.agent), plans with
    queueops' templates, and applies the plan in one more run when it changes something,
    with a backup of every file it replaces, the host lock, a reload of only what changed,
    the proof that everything runs, and a rollback otherwise.
  - C(changed) is true when the plan changes something, with C(--check) too; C(--diff)
    shows the unified diffs of the files.
version_added: "0.1.0"
author: queueops
options:
  kind:
    description:
      - The queueops kind to converge (workers, horizon, redis, scheduler, ...); each role of
        this collection names its own.
    type: str
    required: true
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
"""

EXAMPLES = r"""
- name: Converge the queue workers' supervisor programs
  queueops.laravel.converge:
    kind: workers
"""

RETURN = r"""
items:
  description: What changed or would change, as invoke's report lists it.
  returned: always
  type: list
  elements: dict
runs:
  description: Runs of the agent module on the host (1 on a no-op, 2 with a change).
  returned: always
  type: int
"""
