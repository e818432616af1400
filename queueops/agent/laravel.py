"""The app on this host: its .env, its resolved configuration, and running its artisan.

queueops does not re-derive Laravel's configuration (Redis prefix, credentials, the queue
connection): it asks the app. The app's console kernel is bootstrapped with the host's PHP and
prints its resolved `queue`, `database.redis` and `database` configuration as JSON, which
honours `config:cache`, custom config/*.php files and every Laravel version. The answer is
cached on the host (root only, it holds credentials), keyed on the hashes of .env, config/ and
bootstrap/cache/config.php, so a run where none of them changed pays no PHP start-up. The
cache is marshal data (built into the interpreter, written and read by the same host): a run
that finds it valid imports neither json nor subprocess.
"""

from __future__ import annotations

import marshal
import os
import pwd

from queueops.agent.common import AgentError, atomic_write, sha256

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from queueops.protocol import AppTarget, LaravelFacts

CACHE_DIR = "/var/cache/queueops/laravel"
MARKER = "QUEUEOPS-LARAVEL-CONFIG:"
# Boots the app from its directory as artisan does: `$app` is then the app, configured.
BOOT_PHP = r"""
foreach (['vendor/autoload.php', 'bootstrap/autoload.php'] as $file) {
    if (is_file($file)) { require $file; break; }
}
$app = require 'bootstrap/app.php';
$app->make(Illuminate\Contracts\Console\Kernel::class)->bootstrap();
"""
# Prints what queueops needs of the app's configuration. Redis connections given as a URL
# (REDIS_URL) are parsed the way Laravel parses them.
CONFIG_PHP = (
    BOOT_PHP
    + r"""
$config = $app['config'];
$redis = (array) $config->get('database.redis', []);
if (class_exists(Illuminate\Support\ConfigurationUrlParser::class)) {
    $parser = new Illuminate\Support\ConfigurationUrlParser;
    foreach ($redis as $name => $connection) {
        if (!in_array($name, ['client', 'options'], true) && is_array($connection)) {
            $redis[$name] = $parser->parseConfiguration($connection);
        }
    }
}
echo "\n", $argv[1], json_encode([
    'env' => $app->environment(),
    'name' => $config->get('app.name'),
    'queue' => $config->get('queue'),
    'cache' => [
        'default' => $config->get('cache.default'),
        'driver' => $config->get('cache.stores.' . $config->get('cache.default') . '.driver'),
    ],
    'redis' => $redis,
    'database' => [
        'default' => $config->get('database.default'),
        'connections' => $config->get('database.connections'),
    ],
    'config_cached' => $app->configurationIsCached(),
], JSON_PARTIAL_OUTPUT_ON_ERROR | JSON_UNESCAPED_SLASHES), "\n";
"""
)


def env_value(env_text: str, key: str) -> str | None:
    """The value of KEY in a Laravel .env (last assignment wins, quotes and comments dropped)."""
    found = None
    for raw in env_text.splitlines():
        line = raw.strip()
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, value = line.split("=", 1)
        if name.strip() != key:
            continue
        value = value.strip()
        if value[:1] in ("'", '"') and value.endswith(value[0]) and len(value) >= 2:
            value = value[1:-1]
        else:
            value = value.split(" #", 1)[0].strip()
        found = value
    return found


def set_env(text: str, key: str, value: str) -> str:
    """.env text with KEY=value: its last assignment replaced, or a line appended."""
    lines = text.splitlines()
    found = [
        i
        for i, raw in enumerate(lines)
        if raw.strip().removeprefix("export ").lstrip().split("=", 1)[0].strip() == key
        and "=" in raw
    ]
    if found:
        lines[found[-1]] = f"{key}={value}"
    else:
        lines.append(f"{key}={value}")
    return "\n".join(lines) + "\n"


def config_cache_path(app_path: str) -> str:
    return os.path.join(app_path, "bootstrap", "cache", "config.php")


def run_as(
    user: str | None, cwd: str, argv: list[str], timeout: float, stdin: str | None = None
) -> tuple[int, str, str]:
    """argv as `user` (runuser; as ourselves when that is who we are), from `cwd`."""
    import subprocess

    if user is not None and os.geteuid() == 0 and user != pwd.getpwuid(0).pw_name:
        argv = ["runuser", "-u", user, "--", *argv]
    result = subprocess.run(
        argv, input=stdin, capture_output=True, text=True, timeout=timeout, cwd=cwd
    )
    return result.returncode, result.stdout, result.stderr


def artisan(app: AppTarget, *args: str, timeout: float = 120) -> tuple[int, str]:
    """`php artisan ARGS` as the app's user; exit code and the output, stripped."""
    argv = [app["php"], os.path.join(app["app_path"], "artisan"), *args]
    code, out, err = run_as(app["user"], app["app_path"], argv, timeout)
    return code, (out + err).strip()


def artisan_ok(app: AppTarget, *args: str, timeout: float = 120, tail: int = 300) -> str:
    """artisan that must succeed: its output, or the AgentError naming the command and the
    end of what it printed."""
    code, output = artisan(app, *args, timeout=timeout)
    if code != 0:
        raise AgentError(f"{' '.join(args)} exited {code}: {output[-tail:]}")
    return output


def _tree_digest(digest: Any, directory: str) -> None:
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            digest.update(os.path.relpath(path, directory).encode() + b"\0")
            try:
                with open(path, "rb") as handle:
                    digest.update(sha256(handle.read()).digest())
            except OSError:
                digest.update(b"unreadable")


def config_key(app_path: str, php: str, user: str) -> str:
    """What the app's resolved configuration depends on: .env, config/, the config cache, and
    what queueops asks of it (a newer queueops asks for more)."""
    digest = sha256(f"{php}\0{user}\0{CONFIG_PHP}\0".encode())
    for path in (os.path.join(app_path, ".env"), config_cache_path(app_path)):
        try:
            with open(path, "rb") as handle:
                digest.update(b"file\0" + sha256(handle.read()).digest())
        except OSError:
            digest.update(b"absent\0")
    _tree_digest(digest, os.path.join(app_path, "config"))
    return str(digest.hexdigest())


def app_user(app_path: str) -> str:
    """Who asks the app for its configuration: the owner of its artisan, who deployed it."""
    try:
        return pwd.getpwuid(os.stat(os.path.join(app_path, "artisan")).st_uid).pw_name
    except (OSError, KeyError):
        return pwd.getpwuid(os.geteuid()).pw_name


def _cached(path: str) -> object:
    try:
        with open(path, "rb") as handle:
            return marshal.load(handle)
    except (OSError, EOFError, ValueError, TypeError):  # absent, or another Python's format
        return None


def app_config(app_path: str, php: str) -> tuple[dict[str, Any], str]:
    """The app's resolved configuration, and "cache" or "php" for where it came from."""
    if not os.path.exists(os.path.join(app_path, "artisan")):
        raise AgentError(f"{app_path}/artisan does not exist: is this the app's directory?")
    user = app_user(app_path)
    key = config_key(app_path, php, user)
    cache = os.path.join(CACHE_DIR, sha256(app_path.encode()).hexdigest()[:24] + ".marshal")
    entry = _cached(cache)
    if isinstance(entry, dict) and entry.get("key") == key:
        return entry["config"], "cache"
    import json
    import subprocess

    try:
        code, out, err = run_as(user, app_path, [php, "-r", CONFIG_PHP, MARKER], timeout=120)
    except (OSError, subprocess.SubprocessError) as exc:
        raise AgentError(f"cannot ask the app at {app_path} for its configuration: {exc}") from None
    answer = [line for line in out.splitlines() if line.startswith(MARKER)]
    if code != 0 or not answer:
        tail = " ".join((out + err).split())[-300:]
        raise AgentError(
            f"the app at {app_path} did not print its configuration ({php} exited {code}): {tail}"
        )
    try:
        config = json.loads(answer[-1][len(MARKER) :])
    except ValueError:
        raise AgentError(
            f"the app at {app_path} printed a configuration that is not JSON"
        ) from None
    os.makedirs(CACHE_DIR, mode=0o700, exist_ok=True)
    atomic_write(cache, marshal.dumps({"key": key, "config": config}), 0o600)
    # Earlier versions kept it as JSON beside it, credentials included.
    legacy = cache.removesuffix(".marshal") + ".json"
    if os.path.exists(legacy):
        os.remove(legacy)
    return config, "php"


def laravel_facts(app_path: str, php: str) -> LaravelFacts:
    """What a plan needs of the app's configuration; no credential leaves the host."""
    try:
        config, source = app_config(app_path, php)
    except AgentError as exc:
        return {"error": str(exc)}
    return laravel_facts_of(config, source)


def laravel_facts_of(config: dict[str, Any], source: str) -> LaravelFacts:
    """The facts of the app's resolved configuration (as CONFIG_PHP prints it)."""
    queue = config.get("queue") or {}
    cache = config.get("cache") or {}
    return {
        "env": config.get("env"),
        "name": config.get("name"),
        "queue_connection": queue.get("default"),
        "config_cached": bool(config.get("config_cached")),
        "source": source,
        "cache_store": cache.get("default"),
        "cache_driver": cache.get("driver"),
    }


def _null(value: Any) -> Any:
    return None if value in (None, "") else value


def redis_connection(config: dict[str, Any], name: str) -> dict[str, Any]:
    """The app's Redis connection `name` (database.redis.NAME): host, port, database,
    credentials and the key prefix, as Laravel's RedisManager merges `database.redis.options`
    with the connection's own options."""
    redis = config.get("redis") or {}
    conf = redis.get(name)
    if not isinstance(conf, dict):
        raise AgentError(f"the app has no Redis connection {name!r} (config/database.php)")
    options = {**(redis.get("options") or {}), **(conf.get("options") or {})}
    host = str(_null(conf.get("host")) or "127.0.0.1")
    tls = redis_tls(redis, name, conf)
    if tls is not None:
        host = host.removeprefix("tls://").removeprefix("ssl://")
    return {
        "host": host,
        "port": int(_null(conf.get("port")) or 6379),
        "db": str(_null(conf.get("database")) or "0"),
        "password": _null(conf.get("password")),
        "username": _null(conf.get("username")),
        "prefix": str(options.get("prefix") or ""),
        "tls": tls,
    }


# TLS options of PHP's `ssl` stream context that queueops honours, and those that change
# nothing about whom it trusts; any other one set is refused rather than ignored.
TLS_OPTIONS = ("verify_peer", "verify_peer_name", "peer_name", "cafile", "capath")
TLS_HARMLESS = ("SNI_enabled", "disable_compression", "crypto_type", "crypto_method",
                "capture_peer_cert", "capture_peer_cert_chain", "capture_session_meta")  # fmt: skip


def _php_true(value: Any) -> bool:
    return bool(value) and value != "0"


def redis_tls(redis: dict[str, Any], name: str, conf: dict[str, Any]) -> dict[str, Any] | None:
    """How the app's client reaches Redis connection `name` over TLS, None for plain TCP.

    phpredis (Laravel's PhpRedisConnector) merges the connection, `database.redis.options`
    and the connection's `options`, prefixes the host with `scheme://` and passes
    `context.stream` as PHP's ssl context; predis takes the connection's `scheme` and its `ssl`
    array. `rediss://` URLs parse to the `tls` driver, which Laravel's RedisManager makes the
    scheme. As PHP does: the peer and its name are verified against the system's CA store,
    or the context's cafile/capath, unless the app turns verification off.
    """
    driver = str(conf.get("driver") or "").lower()
    if driver in ("tcp", "tls"):
        conf = {**conf, "scheme": driver}
    if (redis.get("client") or "phpredis") == "predis":
        merged, where = conf, "ssl"
        context = conf.get("ssl")
    else:
        merged = {**conf, **(redis.get("options") or {}), **(conf.get("options") or {})}
        stream = merged.get("context")
        context, where = (
            (stream.get("stream") if isinstance(stream, dict) else None),
            "context.stream",
        )
    scheme = _null(merged.get("scheme"))
    host = str(conf.get("host") or "")
    if scheme is None and host.startswith(("tls://", "ssl://")):
        scheme = host[:3]
    scheme = None if scheme is None else str(scheme).lower()
    if scheme in (None, "tcp"):
        return None
    if scheme not in ("tls", "ssl") and not scheme.startswith("tlsv"):
        raise AgentError(
            f"the app's Redis connection {name!r} uses the scheme {scheme!r}: queueops speaks"
            " tcp and tls"
        )
    options = context if isinstance(context, dict) else {}
    unknown = sorted(
        key
        for key, value in options.items()
        if key not in TLS_OPTIONS and key not in TLS_HARMLESS and value not in (None, False)
    )
    if unknown:
        raise AgentError(
            f"the app's Redis connection {name!r} sets {where} "
            f"{', '.join(unknown)}, which queueops cannot honour (it honours "
            f"{', '.join(TLS_OPTIONS)})"
        )
    return {
        "verify_peer": _php_true(options.get("verify_peer", True)),
        "verify_peer_name": _php_true(options.get("verify_peer_name", True)),
        "peer_name": _null(options.get("peer_name")),
        "cafile": _null(options.get("cafile")),
        "capath": _null(options.get("capath")),
    }


def queue_redis(config: dict[str, Any], connection: str = "redis") -> dict[str, Any]:
    """Where the app's queue `connection` keeps its jobs: the Redis connection it names (see
    redis_connection), and its default queue."""
    queue_conf = ((config.get("queue") or {}).get("connections") or {}).get(connection)
    if not isinstance(queue_conf, dict):
        raise AgentError(f"the app has no queue connection {connection!r} (config/queue.php)")
    if queue_conf.get("driver") != "redis":
        raise AgentError(
            f"the app's queue connection {connection!r} uses the "
            f"{queue_conf.get('driver')!r} driver, not redis"
        )
    conf = redis_connection(config, str(queue_conf.get("connection") or "default"))
    return {**conf, "queue": str(queue_conf.get("queue") or "default")}


def _address(host: str) -> str:
    """The database server's address: app hosts that name it differently still agree."""
    import socket

    try:
        return socket.gethostbyname(host)
    except OSError:
        return host


def failed_store(config: dict[str, Any]) -> dict[str, str]:
    """Which failed-job store the app uses: an id equal on every host that shares it (one
    database server) and different for stores local to a host (SQLite, files), and a name
    to show (no credential)."""
    import socket
    import urllib.parse

    failed = (config.get("queue") or {}).get("failed") or {}
    driver = str(failed.get("driver") or "database")
    here = socket.gethostname()
    parts: list[str]
    if driver in ("database", "database-uuids"):
        database = config.get("database") or {}
        name = failed.get("database") or database.get("default")
        conf = (database.get("connections") or {}).get(name) or {}
        table = str(failed.get("table") or "failed_jobs")
        url = urllib.parse.urlsplit(str(conf.get("url") or ""))
        kind = str(conf.get("driver") or url.scheme or "?")
        if kind == "sqlite":
            path = os.path.realpath(str(conf.get("database") or ""))
            parts, shown = [here, path, table], f"sqlite {path} ({table}) on {here}"
        else:
            host = str(url.hostname or conf.get("host") or "127.0.0.1")
            port = str(url.port or conf.get("port") or "")
            db = str(url.path.lstrip("/") or conf.get("database") or "")
            if host in ("127.0.0.1", "localhost", "::1") or host.startswith("/"):
                host = f"{host}@{here}"  # a server on each host is a store on each host
            parts = [kind, _address(host), port, db, table]
            shown = f"{kind} {db} on {host}:{port} ({table})"
    else:
        parts, shown = [driver, here, str(failed.get("path") or "")], f"{driver} store on {here}"
    digest = sha256("\0".join(parts).encode()).hexdigest()[:16]
    return {"id": digest, "name": shown}


def machine_slug() -> str:
    """Str::slug(gethostname()): how Horizon names this machine's masters."""
    import socket

    out, dash = [], False
    for char in socket.gethostname().lower():
        if char.isascii() and char.isalnum():
            out.append(char)
            dash = False
        elif not dash and out:
            out.append("-")
            dash = True
    return "".join(out).strip("-")
