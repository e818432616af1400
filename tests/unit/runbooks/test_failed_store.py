"""Which failed-job store an app uses: shared stores are acted on once, local ones per host."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from queueops.agent.laravel import failed_store
from queueops.runbooks.failed import Stores


def config(connection: dict[str, Any], failed: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "queue": {"failed": failed or {"driver": "database-uuids", "table": "failed_jobs"}},
        "database": {"default": "main", "connections": {"main": connection}},
    }


PGSQL = {"driver": "pgsql", "host": "10.0.0.5", "port": "5432", "database": "app",
         "username": "app", "password": "s3cret"}  # fmt: skip


def on_host(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setattr(socket, "gethostname", lambda: name)


def test_hosts_sharing_a_database_server_share_the_store(monkeypatch: pytest.MonkeyPatch) -> None:
    on_host(monkeypatch, "app1")
    first = failed_store(config(PGSQL))
    on_host(monkeypatch, "app2")
    assert failed_store(config(PGSQL)) == first
    assert first["name"] == "pgsql app on 10.0.0.5:5432 (failed_jobs)"
    assert "s3cret" not in str(first)


def test_a_server_named_differently_on_two_hosts_is_one_store(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(socket, "gethostbyname", lambda name: "10.0.0.5")
    by_name = failed_store(config({**PGSQL, "host": "db1.internal"}))
    assert by_name["id"] == failed_store(config(PGSQL))["id"]


def test_a_url_connection_names_its_server(monkeypatch: pytest.MonkeyPatch) -> None:
    url = {"driver": "pgsql", "url": "postgresql://app:s3cret@10.0.0.5:5432/app"}
    assert failed_store(config(url))["id"] == failed_store(config(PGSQL))["id"]
    assert "s3cret" not in str(failed_store(config(url)))


@pytest.mark.parametrize(
    "connection",
    [
        {"driver": "sqlite", "database": "/var/www/app/database/database.sqlite"},
        {**PGSQL, "host": "127.0.0.1"},
    ],
)
def test_a_store_local_to_each_host_is_one_per_host(
    monkeypatch: pytest.MonkeyPatch, connection: dict[str, Any]
) -> None:
    on_host(monkeypatch, "app1")
    first = failed_store(config(connection))
    on_host(monkeypatch, "app2")
    assert failed_store(config(connection))["id"] != first["id"]


def test_another_table_is_another_store() -> None:
    other = config(PGSQL, {"driver": "database", "table": "failed_jobs_2"})
    assert failed_store(other)["id"] != failed_store(config(PGSQL))["id"]


def test_the_first_host_to_claim_a_store_acts_for_it() -> None:
    stores = Stores()
    shared, local = {"id": "a", "name": "db"}, {"id": "b", "name": "sqlite"}
    assert stores.claim(shared, "app2") == "app2"
    assert stores.claim(shared, "app1") == "app2"
    assert stores.claim(local, "app1") == "app1"
