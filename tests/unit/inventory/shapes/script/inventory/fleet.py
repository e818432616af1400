#!/usr/bin/env python3
"""A dynamic inventory script, as a CMDB export would be."""

import json
import sys

if sys.argv[1:] == ["--list"]:
    print(
        json.dumps(
            {
                "workers": {"hosts": ["web1", "web2"], "vars": {"os_family": "debian"}},
                "redis": {"hosts": ["redis1"]},
                "_meta": {
                    "hostvars": {
                        "web1": {"ansible_host": "192.0.2.11", "queue_worker_retry_after": 120},
                        "web2": {"ansible_host": "192.0.2.12"},
                        "redis1": {"ansible_host": "192.0.2.30", "os_family": "redhat"},
                    }
                },
            }
        )
    )
else:
    print("{}")
