#!/usr/bin/python
# Copyright: queueops
# MIT License (see galaxy.yml)
"""The documentation of the render action (plugins/action/render.py), which runs on the
controller."""

from __future__ import annotations

DOCUMENTATION = r"""
module: render
short_description: Write the files queueops would install on a host, without contacting it
description:
  - Runs on the controller, as C(invoke render) does. Every kind's files of the host,
    rendered from its variables, are written under C(dest) at their paths on the host.
  - Needs C(os_family) (debian or redhat) for the host and every worker program's connection
    pinned; refuses rather than guess.
version_added: "0.1.0"
author: queueops
options:
  dest:
    description: The directory on the controller the host's files are written under.
    type: path
    required: true
"""

EXAMPLES = r"""
- name: What the roles would install on this host, under rendered/HOST
  queueops.laravel.render:
    dest: "{{ playbook_dir }}/../rendered/{{ inventory_hostname }}"
"""

RETURN = r"""
files:
  description: The files written on the controller.
  returned: success
  type: list
  elements: str
"""
