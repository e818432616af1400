"""The few lines of XML-RPC that read supervisord's state, against the standard library's
own encoder (what supervisord's responses are made of)."""

from __future__ import annotations

import xmlrpc.client
from pathlib import Path
from typing import Any

import pytest

from queueops.agent.supervisor_state import RpcFault, decode, supervisor_socket

INFO = [
    {"name": "mail_00", "group": "mail", "statename": "RUNNING", "state": 20, "pid": 4242,
     "start": 1700000000, "now": 1700000100, "description": "pid 4242, uptime 0:01:40",
     "spawnerr": "", "exitstatus": 0, "logfile": "/var/log/mail.log", "stdout_logfile": "",
     "stderr_logfile": ""},
    {"name": "horizon", "group": "horizon", "statename": "FATAL", "state": 200, "pid": 0,
     "start": 0, "now": 1700000100, "description": "Exited too quickly <&> \"quoted\"",
     "spawnerr": "can't find command 'php'", "exitstatus": -1, "logfile": "",
     "stdout_logfile": "", "stderr_logfile": ""},
]  # fmt: skip


def response(value: Any) -> bytes:
    return xmlrpc.client.dumps((value,), methodresponse=True).encode()


@pytest.mark.parametrize("value", [INFO, [], 4242, "RUNNING", True, {"a": [1, {"b": "c"}]}])
def test_decodes_what_xmlrpc_encodes(value: Any) -> None:
    assert decode(response(value)) == xmlrpc.client.loads(response(value))[0][0]


def test_a_fault_is_raised_with_supervisors_words() -> None:
    fault = xmlrpc.client.dumps(xmlrpc.client.Fault(10, "BAD_NAME: nosuch"), methodresponse=True)
    with pytest.raises(RpcFault, match="BAD_NAME: nosuch"):
        decode(fault.encode())


def test_the_socket_is_read_from_the_unix_http_server_section(tmp_path: Path) -> None:
    config = tmp_path / "supervisord.conf"
    config.write_text(
        "[supervisord]\nfile=/not/this\n"
        "[unix_http_server]\nchmod=0700\nfile = /var/run/supervisor.sock   ; (the path)\n"
        "[include]\nfiles = /etc/supervisor/conf.d/*.conf\n"
    )
    assert supervisor_socket(str(config)) == "/var/run/supervisor.sock"
    config.write_text("[inet_http_server]\nport=127.0.0.1:9001\n")
    assert supervisor_socket(str(config)) is None
    assert supervisor_socket(str(tmp_path / "absent.conf")) is None
