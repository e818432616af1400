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
import stat

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
// The default queue connection as .env, the environment and config/queue.php give it now, as
// the next config:cache will: with a cached config the app read none of them.
$configured = $config->get('queue.default');
if ($app->configurationIsCached()) {
    try {
        $configured = null;
        $repository = Illuminate\Support\Env::getRepository();
        Dotenv\Dotenv::create($repository, $app->environmentPath(), $app->environmentFile())
            ->safeLoad();
        $file = $app->configPath('queue.php');
        if (is_file($file)) {
            $configured = (require $file)['default'] ?? null;
        }
    } catch (Throwable $e) {
        $configured = null;
    }
}
echo "\n", $argv[1], json_encode([
    'env' => $app->environment(),
    'configured_queue' => $configured,
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


def _assigned_name(line: str) -> str | None:
    """The variable a .env line assigns (as phpdotenv reads it: an `export` prefix, a quoted
    name), or None for a comment, a blank or a line without `=`."""
    body = line.strip()
    if body.startswith("export") and body[6:7] in (" ", "\t"):
        body = body[6:].lstrip()
    if not body or body.startswith("#") or "=" not in body:
        return None
    name = body.split("=", 1)[0].strip()
    if len(name) >= 2 and name[0] == name[-1] and name[0] in "'\"":
        name = name[1:-1]
    return name


def set_env(text: str, key: str, value: str) -> str:
    """.env text with KEY=value: the value of its last assignment replaced (its indent, export
    prefix, spacing and line ending kept), or a line appended; every other byte unchanged."""
    lines = text.splitlines(keepends=True)
    found = [i for i, line in enumerate(lines) if _assigned_name(line) == key]
    newline = "\r\n" if "\r\n" in text else "\n"
    if found:
        line = lines[found[-1]]
        body = line.rstrip("\r\n")
        head, old = body.split("=", 1)
        space = old[: len(old) - len(old.lstrip())]
        lines[found[-1]] = f"{head}={space}{value}{line[len(body) :]}"
        return "".join(lines)
    if text and not text.endswith(("\n", "\r")):
        text += newline
    return f"{text}{key}={value}{newline}"


def config_cache_path(app_path: str) -> str:
    return os.path.join(app_path, "bootstrap", "cache", "config.php")


class AppUserRefused(AgentError):
    """No user other than root is known to run the app's code here."""


# What the app's code runs with: nothing of root's environment (sudo's variables, root's HOME,
# the operator's locale) reaches it.
APP_PATH_ENV = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def as_app_user(user: str | None, app_path: str) -> tuple[list[str], dict[str, str]]:
    """The argv prefix and the environment that run the app's code as `user`, with that user's
    groups and home. The app executes files its users can write (bootstrap/cache/*.php,
    config/, vendor/), so root never runs it: no user, an unknown one or one of uid 0 is
    refused."""
    host = os.uname().nodename
    if not user:
        raise AppUserRefused(
            f"{host}: no user is known to run the app at {app_path} (set queue_worker_user, "
            "horizon_user or scheduler_user to the user its workers run as); queueops never "
            "runs the app's code as root"
        )
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise AppUserRefused(
            f"{host}: user {user!r}, who should run the app at {app_path}, does not exist "
            "on this host"
        ) from None
    if entry.pw_uid == 0:
        raise AppUserRefused(
            f"{host}: refusing to run the app at {app_path} as {user!r}: that user is uid 0, "
            "and the app executes files its own users can write (bootstrap/cache/*.php); "
            "set the worker user to the web user (www-data, apache) or the deploy user"
        )
    env = {"PATH": APP_PATH_ENV, "HOME": entry.pw_dir, "USER": user, "LOGNAME": user,
           "SHELL": "/bin/sh", "LANG": "C.UTF-8"}  # fmt: skip
    if os.geteuid() != 0:
        return [], env  # not root: nothing to drop, and no way to become another user
    # setpriv execs the command itself: a timeout's kill reaches PHP, not a waiting parent.
    prefix = ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--init-groups",
              "--"]  # fmt: skip
    return prefix, env


def run_as(
    user: str | None, cwd: str, argv: list[str], timeout: float, stdin: str | None = None
) -> tuple[int, str, str]:
    """argv as `user` (see as_app_user), from `cwd`."""
    import subprocess

    prefix, env = as_app_user(user, cwd)
    result = subprocess.run(
        [*prefix, *argv], input=stdin, capture_output=True, text=True, timeout=timeout,
        cwd=cwd, env=env,
    )  # fmt: skip
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


def _file_digest(path: str) -> bytes:
    """The sha256 of a regular file (through a link, as the app reads a shared .env); a FIFO
    or device the app's user planted is not read (root would wait on it or read what they
    chose) and digests as what it is."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        return f"unreadable {exc.errno}".encode()
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return f"not a file {stat.S_IFMT(info.st_mode)}".encode()
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return bytes(sha256(handle.read()).digest())
    finally:
        os.close(fd)


def _tree_digest(digest: Any, directory: str) -> None:
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            digest.update(os.path.relpath(path, directory).encode() + b"\0")
            digest.update(_file_digest(path))


def config_key(app_path: str, php: str, user: str) -> str:
    """What the app's resolved configuration depends on: .env, config/, the config cache, who
    asks and what queueops asks of it (a newer queueops asks for more)."""
    digest = sha256(f"{php}\0{user}\0{CONFIG_PHP}\0".encode())
    for path in (os.path.join(app_path, ".env"), config_cache_path(app_path)):
        digest.update(b"file\0" + _file_digest(path))
    _tree_digest(digest, os.path.join(app_path, "config"))
    return str(digest.hexdigest())


def app_user(candidates: list[str]) -> str | None:
    """Who runs the app's code here: the first of the request's users (the configured one, or
    each platform's web user) that exists on this host; else the first, refused by name."""
    for name in candidates:
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    return candidates[0] if candidates else None


def _cached(path: str) -> object:
    try:
        with open(path, "rb") as handle:
            return marshal.load(handle)
    except (OSError, EOFError, ValueError, TypeError):  # absent, or another Python's format
        return None


def app_config(app_path: str, php: str, user: str | None) -> tuple[dict[str, Any], str]:
    """The app's resolved configuration as `user` prints it, and "cache" or "php" for where it
    came from."""
    if not os.path.exists(os.path.join(app_path, "artisan")):
        raise AgentError(f"{app_path}/artisan does not exist: is this the app's directory?")
    as_app_user(user, app_path)  # refused before a cached answer is used, too
    key = config_key(app_path, php, str(user))
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
        if not isinstance(config, dict):
            raise ValueError(config)
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


def app_connections(app: AppTarget) -> tuple[str | None, str | None]:
    """The default queue connection the app's .env, environment and config/queue.php give now
    (what a config:cache would dispatch to), and the driver of its default database
    connection: Laravel's answers, not a reading of .env."""
    config = app_config(app["app_path"], app["php"], app["user"])[0]
    database = config.get("database") or {}
    default = (database.get("connections") or {}).get(database.get("default")) or {}
    return config.get("configured_queue"), default.get("driver")


def laravel_facts(app_path: str, php: str, user: str | None) -> LaravelFacts:
    """What a plan needs of the app's configuration; no credential leaves the host. An app no
    user but root could run is refused, not reported."""
    try:
        config, source = app_config(app_path, php, user)
    except AppUserRefused:
        raise
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
        "configured_queue_connection": config.get("configured_queue"),
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
