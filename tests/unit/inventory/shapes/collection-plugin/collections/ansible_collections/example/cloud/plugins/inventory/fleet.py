"""A cloud inventory plugin's shape: instances listed by an API, grouped by a tag."""

from __future__ import annotations

from typing import Any

DOCUMENTATION = """
    name: fleet
    short_description: instances of a (fixed) cloud account
    description: the instances an account lists, grouped by their role tag
    options:
      plugin:
        description: the name of this plugin
        required: true
        choices: ["example.cloud.fleet"]
      region:
        description: the region to list
        type: str
        default: eu-1
"""

# Ansible's plugins open with their documentation.
from ansible.plugins.inventory import BaseInventoryPlugin  # noqa: E402

INSTANCES = {
    "eu-1": [
        {"name": "i-0a1", "address": "192.0.2.41", "role": "workers", "family": "debian"},
        {"name": "i-0b2", "address": "192.0.2.42", "role": "redis", "family": "redhat"},
    ],
}


class InventoryModule(BaseInventoryPlugin):  # type: ignore[misc]  # ansible-core is untyped
    NAME = "example.cloud.fleet"

    def verify_file(self, path: str) -> bool:
        return super().verify_file(path) and path.endswith(("cloud.yml", "cloud.yaml"))

    def parse(self, inventory: Any, loader: Any, path: str, cache: bool = True) -> None:
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        for instance in INSTANCES[self.get_option("region")]:
            group = inventory.add_group(instance["role"])
            inventory.add_host(instance["name"], group=group)
            inventory.set_variable(instance["name"], "ansible_host", instance["address"])
            inventory.set_variable(instance["name"], "os_family", instance["family"])
