"""The app's own configuration on the host: asked once through PHP, cached on its inputs' hashes,
and the one place the queue's Redis (credentials, prefix) comes from."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from queueops.agent import laravel
from queueops.agent.common import AgentError

CONFIG: dict[str, Any] = {
    "env": "production",
    "name": "a@b",
    "queue": {
        "default": "redis",
        "connections": {
            "redis": {"driver": "redis", "connection": "queue", "queue": "default"},
            "database": {"driver": "database"},
        },
    },
    "redis": {
        "client": "phpredis",
        "options": {"prefix": "a_at_b_database_"},
        "default": {"host": "127.0.0.1", "port": "6379", "database": "0"},
        "queue": {
            "host": "10.0.0.5",
            "port": "6380",
            "database": "2",
            "password": "s3cret",
            "username": None,
            "options": {"prefix": "jobs:"},
        },
    },
    "database": {"default": "sqlite", "connections": {"sqlite": {"driver": "sqlite"}}},
    "cache": {"default": "shared", "driver": "redis"},
    "config_cached": False,
}


# Whom the stand-in app runs as: a user that exists, and is not root.
USER = "nobody"


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An app directory and a stand-in `php` that counts its runs and prints CONFIG; the
    test's own user runs it (the lab proves the switch to the app's user)."""
    monkeypatch.setattr(os, "geteuid", lambda: 65534)
    root = tmp_path / "app"
    (root / "config").mkdir(parents=True)
    (root / "bootstrap" / "cache").mkdir(parents=True)
    (root / "artisan").write_text("<?php\n")
    (root / ".env").write_text("APP_NAME=a@b\n")
    (root / "config" / "queue.php").write_text("<?php return [];\n")
    php = tmp_path / "php"
    runs = tmp_path / "runs"
    php.write_text(
        "#!/bin/sh\n"
        f"echo run >> {runs}\n"
        # The marker is the last argument; the app may print noise before it.
        'for last; do :; done\necho "booting..."\n'
        f"printf '%s%s\\n' \"$last\" '{json.dumps(CONFIG)}'\n"
    )
    php.chmod(php.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(laravel, "CACHE_DIR", str(tmp_path / "cache"))
    return root


def php_runs(app: Path) -> int:
    runs = app.parent / "runs"
    return len(runs.read_text().splitlines()) if runs.exists() else 0


def test_the_app_is_asked_once_then_the_cached_answer_is_used(app: Path) -> None:
    php = str(app.parent / "php")
    assert laravel.app_config(str(app), php, USER) == (CONFIG, "php")
    assert laravel.app_config(str(app), php, USER) == (CONFIG, "cache")
    assert php_runs(app) == 1
    cache = next(Path(laravel.CACHE_DIR).iterdir())
    # It holds the app's credentials: root's only.
    assert stat.S_IMODE(os.stat(cache).st_mode) == 0o600


@pytest.mark.parametrize(
    "change",
    [".env", "config/queue.php", "config/new.php", "bootstrap/cache/config.php"],
)
def test_a_change_to_what_the_config_depends_on_asks_the_app_again(app: Path, change: str) -> None:
    php = str(app.parent / "php")
    laravel.app_config(str(app), php, USER)
    path = app / change
    path.write_text((path.read_text() if path.exists() else "") + "# changed\n")
    assert laravel.app_config(str(app), php, USER)[1] == "php"
    assert php_runs(app) == 2


def test_an_app_that_does_not_boot_is_an_error_naming_it(app: Path) -> None:
    broken = app.parent / "broken-php"
    broken.write_text(
        "#!/bin/sh\necho 'PHP Fatal error: Class App\\\\Kernel not found' >&2\nexit 255\n"
    )
    broken.chmod(0o755)
    with pytest.raises(AgentError, match=r"did not print its configuration .*exited 255.*Fatal"):
        laravel.app_config(str(app), str(broken), USER)


def test_laravel_facts_carry_no_credential(app: Path) -> None:
    facts = laravel.laravel_facts(str(app), str(app.parent / "php"), USER)
    assert facts == {"env": "production", "name": "a@b", "queue_connection": "redis",
                     "configured_queue_connection": None,
                     "config_cached": False, "source": "php", "cache_store": "shared",
                     "cache_driver": "redis"}  # fmt: skip
    assert "s3cret" not in json.dumps(facts)


@pytest.mark.parametrize(
    ("user", "why"),
    [
        (None, "no user is known to run the app at .*never runs the app's code as root"),
        (
            "no-such-user-here",
            "user 'no-such-user-here', who should run the app at .* does not exist",
        ),
        ("root", "refusing to run the app at .* as 'root': that user is uid 0"),
    ],
)
def test_the_app_is_never_run_without_a_user_other_than_root(
    app: Path, user: str | None, why: str
) -> None:
    with pytest.raises(laravel.AppUserRefused, match=why):
        laravel.app_config(str(app), str(app.parent / "php"), user)
    # Facts report an app that does not boot; they refuse one no user may run.
    with pytest.raises(laravel.AppUserRefused):
        laravel.laravel_facts(str(app), str(app.parent / "php"), user)
    assert php_runs(app) == 0


def test_the_app_runs_with_its_users_environment_not_roots(
    app: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUDO_USER", "operator")
    monkeypatch.setenv("HOME", "/root")
    prefix, env = laravel.as_app_user(USER, str(app))
    assert prefix == []  # the test is not root: nothing to drop
    assert env["HOME"] == "/nonexistent" and env["USER"] == USER
    assert "SUDO_USER" not in env


def test_a_fifo_planted_in_config_is_not_read(app: Path) -> None:
    os.mkfifo(app / "config" / "trap.php")
    php = str(app.parent / "php")
    # Reading it would block this test forever.
    assert laravel.app_config(str(app), php, USER) == (CONFIG, "php")


def test_queue_redis_is_the_connection_the_queue_names_with_merged_options() -> None:
    # config/queue.php names the Redis connection; its own options override the shared ones.
    assert laravel.queue_redis(CONFIG) == {
        "host": "10.0.0.5",
        "port": 6380,
        "db": "2",
        "password": "s3cret",
        "username": None,
        "prefix": "jobs:",
        "tls": None,
        "queue": "default",
    }


def test_queue_redis_defaults_and_nulls_as_laravel_resolves_them() -> None:
    config = {**CONFIG, "queue": {"connections": {"redis": {"driver": "redis"}}}}
    conf = laravel.queue_redis(config)
    # `null` in .env is null in the app's configuration: never a user named "null".
    assert conf["username"] is None and conf["password"] is None
    assert (conf["host"], conf["port"], conf["db"]) == ("127.0.0.1", 6379, "0")
    assert conf["prefix"] == "a_at_b_database_"


def test_queue_redis_refuses_a_connection_that_is_not_redis() -> None:
    with pytest.raises(AgentError, match="uses the 'database' driver, not redis"):
        laravel.queue_redis(CONFIG, "database")
    with pytest.raises(AgentError, match="no queue connection 'sqs'"):
        laravel.queue_redis(CONFIG, "sqs")
