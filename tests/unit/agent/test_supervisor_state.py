"""The few lines of XML-RPC that talk to supervisord, against the standard library's own
codec (what supervisord's interface is made of)."""

from __future__ import annotations

import socket
import threading
import xmlrpc.client
from pathlib import Path
from typing import Any

import pytest

from queueops.agent.supervisor_state import (
    RpcFault,
    SupervisorRpc,
    call,
    decode,
    supervisor_socket,
)

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


def test_an_untyped_value_is_a_string_and_nil_is_none() -> None:
    payload = (
        b"<?xml version='1.0'?><methodResponse><params><param><value><array><data>"
        b"<value>plain &amp; text</value><value><nil/></value><value><i4>7</i4></value>"
        b"</data></array></value></param></params></methodResponse>"
    )
    assert decode(payload) == ["plain & text", None, 7]


class EchoServer:
    """An XML-RPC server on a unix socket built from the standard library's codec: it answers
    each call with [method, params], or a fault for the method `fail`."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                while len(body) < length:
                    body += conn.recv(65536)
                params, method = xmlrpc.client.loads(body)
                if method == "fail":
                    answer = xmlrpc.client.dumps(xmlrpc.client.Fault(70, "BAD_NAME: x"),
                                                 methodresponse=True)  # fmt: skip
                else:
                    answer = xmlrpc.client.dumps(([method, list(params)],), methodresponse=True)
                conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/xml\r\n\r\n"
                             + answer.encode())  # fmt: skip

    def close(self) -> None:
        self.sock.close()


def test_calls_with_arguments_reach_the_server_as_xmlrpc_encodes_them(tmp_path: Path) -> None:
    server = EchoServer(tmp_path / "rpc.sock")
    try:
        rpc = SupervisorRpc(str(tmp_path / "rpc.sock"))
        assert rpc.supervisor.stopProcessGroup("mail <&> \"x\"", False) == [
            "supervisor.stopProcessGroup", ["mail <&> \"x\"", False]]  # fmt: skip
        assert rpc.supervisor.tailProcessStdoutLog("g:n", 0, 400) == [
            "supervisor.tailProcessStdoutLog", ["g:n", 0, 400]]  # fmt: skip
        with pytest.raises(RpcFault, match="BAD_NAME: x"):
            call(str(tmp_path / "rpc.sock"), "fail")
        with pytest.raises(TypeError):
            rpc.supervisor.addProcessGroup(1.5)
    finally:
        server.close()
