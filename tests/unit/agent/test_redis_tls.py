"""How the app's Redis connection says TLS, read as Laravel's connectors read it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from queueops.agent import laravel
from queueops.agent.common import AgentError
from queueops.agent.redis_client import read_cafile, redis_endpoint

VERIFIED = {"verify_peer": True, "verify_peer_name": True, "peer_name": None, "cafile": None,
            "capath": None}  # fmt: skip


def connection(conf: dict[str, Any], **redis: Any) -> dict[str, Any]:
    config = {"redis": {"client": "phpredis", **redis, "default": conf}}
    return laravel.redis_connection(config, "default")


def test_plain_tcp_has_no_tls() -> None:
    assert connection({"host": "10.0.0.5"})["tls"] is None
    assert connection({"host": "10.0.0.5", "scheme": "tcp"})["tls"] is None


def test_scheme_tls_verifies_peer_and_name_as_php_does_by_default() -> None:
    conf = connection({"host": "redis.internal", "port": "6380", "scheme": "tls"})
    assert conf["tls"] == VERIFIED
    assert redis_endpoint(conf) == "tls://redis.internal:6380/0"


def test_a_rediss_url_parses_to_the_tls_driver_which_laravel_makes_the_scheme() -> None:
    # ConfigurationUrlParser (CONFIG_PHP) turns rediss:// into 'driver' => 'tls'.
    conf = connection({"host": "redis.internal", "driver": "tls", "scheme": "tcp"})
    assert conf["tls"] == VERIFIED


def test_a_tls_host_prefix_is_tls_and_not_part_of_the_address() -> None:
    conf = connection({"host": "tls://redis.internal"})
    assert conf["host"] == "redis.internal" and conf["tls"] == VERIFIED


def test_phpredis_merges_shared_options_and_reads_context_stream() -> None:
    stream = {"cafile": "/etc/app/ca.pem", "verify_peer_name": False, "SNI_enabled": True}
    conf = connection(
        {"host": "h", "options": {"context": {"stream": stream}}}, options={"scheme": "tls"}
    )
    assert conf["tls"] == {**VERIFIED, "cafile": "/etc/app/ca.pem", "verify_peer_name": False}


def test_predis_reads_the_connections_ssl_array() -> None:
    conf = connection(
        {"host": "h", "scheme": "tls", "ssl": {"verify_peer": False}}, client="predis"
    )
    assert conf["tls"] == {**VERIFIED, "verify_peer": False}
    # predis has no `context`: phpredis's options do not apply to it.
    conf = connection(
        {"host": "h", "scheme": "tls", "context": {"stream": {"verify_peer": False}}},
        client="predis",
    )
    assert conf["tls"] == VERIFIED


def test_options_queueops_cannot_honour_are_refused_not_ignored() -> None:
    with pytest.raises(AgentError, match=r"'default' sets context.stream local_cert, local_pk"):
        connection(
            {"host": "h", "scheme": "tls",
             "context": {"stream": {"local_cert": "/c.pem", "local_pk": "/k.pem"}}}
        )  # fmt: skip
    with pytest.raises(AgentError, match="uses the scheme 'unix'"):
        connection({"host": "/run/redis.sock", "scheme": "unix"})


def test_the_cafile_is_read_only_as_a_regular_file_and_only_its_certificates(
    tmp_path: Path,
) -> None:
    pem = "-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----"
    bundle = tmp_path / "ca.pem"
    bundle.write_text(f"# comment\n{pem}\nnoise\n")
    assert read_cafile(str(bundle)) == pem + "\n"
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(AgentError, match="is not a regular file"):
        read_cafile(str(fifo))
    (tmp_path / "empty").write_text("no certificate here\n")
    with pytest.raises(AgentError, match="holds no PEM certificate"):
        read_cafile(str(tmp_path / "empty"))


def test_the_ssl_context_verifies_what_php_would_verify() -> None:
    import ssl

    from queueops.agent.redis_client import tls_context

    default = tls_context(VERIFIED)
    assert default.verify_mode == ssl.CERT_REQUIRED and default.check_hostname
    no_name = tls_context({**VERIFIED, "verify_peer_name": False})
    assert no_name.verify_mode == ssl.CERT_REQUIRED and not no_name.check_hostname
    off = tls_context({**VERIFIED, "verify_peer": False})
    assert off.verify_mode == ssl.CERT_NONE and not off.check_hostname
