#!/usr/bin/python
# Copyright: queueops
# MIT License (see galaxy.yml)
"""Run one queueops agent program on the host, as `invoke` does over SSH."""

from __future__ import annotations

DOCUMENTATION = r"""
module: agent
short_description: Run one queueops agent program on the host
description:
  - The host half of the collection's roles. The C(queueops.laravel.converge) action builds
    the program on the controller from queueops' own host-side modules and one request (the
    facts to read, or the plan to apply), and this module runs it with the host's Python,
    isolated (C(-I -S)), exactly as C(invoke) runs it over SSH.
  - Not meant to be called from a task: the roles call it through their action.
version_added: "0.1.0"
author: queueops
options:
  program:
    description:
      - The agent program. It may carry a password for Redis, so it is never logged.
    type: str
    required: true
notes:
  - Needs Python 3.9 or newer on the host, and nothing else.
"""

EXAMPLES = r"""
# Run by the queueops.laravel.converge action; a task does not call it.
- name: Converge the queue workers
  queueops.laravel.converge:
    kind: workers
"""

RETURN = r"""
answer:
  description: The agent's answer to its request (facts, or what the apply did).
  returned: success
  type: dict
"""

import json
import subprocess
import sys

from ansible.module_utils.basic import AnsibleModule


def main() -> None:
    module = AnsibleModule(
        argument_spec={"program": {"type": "str", "required": True, "no_log": True}},
        supports_check_mode=True,
    )
    ran = subprocess.run(
        [sys.executable, "-I", "-S", "-"],
        input=module.params["program"],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        answer = json.loads(ran.stdout)
    except ValueError:
        tail = (ran.stdout + ran.stderr).strip()[-600:]
        module.fail_json(msg=f"the queueops agent failed (exit {ran.returncode}): {tail}")
    if not answer.pop("ok", False):
        module.fail_json(msg=answer.get("error") or "the queueops agent failed")
    module.exit_json(changed=False, answer=answer)


if __name__ == "__main__":
    main()
