"""Every inventory Ansible reads, read by ansible-core itself.

InventoryManager parses the sources (INI, YAML, JSON, TOML, scripts, `constructed`, plugins of
installed collections, host ranges, several sources), VariableManager merges the variables
(group_vars/ and host_vars/ with Ansible's precedence, vault), and Ansible's Templar renders
them (Jinja, lookups such as `env` and `file`) with queueops' role defaults as the lowest
layer, the way the roles see them in a play. What comes out is plain Python values, each with
the file it came from (ansible-core tags every value it loads with its origin).

Where Ansible would warn that it skipped part of an inventory (a source it could not parse, a
key of a group it does not know, a group that is not a mapping), queueops refuses the
inventory instead of running on part of it.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from jinja2 import Environment, meta
from jinja2.exceptions import TemplateSyntaxError

from queueops.errors import InventoryError
from queueops.inventory.plain import secret_values, unfrack
from queueops.inventory.read import OPERATOR_CHECKS, VARS_DIRS, Read, ReadHost
from queueops.inventory.vault import Vault, can_ask, vault_secrets

with warnings.catch_warnings():
    # cryptography warns about DSA when ansible-core's ssh-agent support is imported.
    warnings.simplefilter("ignore")
    from ansible import constants as C
    from ansible._internal._datatag._tags import Origin, VaultedValue
    from ansible.errors import AnsibleError
    from ansible.inventory import manager as inventory_manager
    from ansible.inventory.helpers import sort_groups
    from ansible.inventory.manager import InventoryManager
    from ansible.module_utils._internal._datatag import AnsibleTagHelper
    from ansible.parsing.dataloader import DataLoader
    from ansible.parsing.vault import AnsibleVaultError, EncryptedString
    from ansible.plugins.loader import init_plugin_loader
    from ansible.plugins.vars import host_group_vars
    from ansible.template import Templar
    from ansible.utils.display import Display
    from ansible.vars.hostvars import HostVars
    from ansible.vars.manager import VariableManager

# Warnings by which Ansible says it left part of an inventory out.
_SKIPPED = (
    "Skipping",
    "Unable to parse",
    "No inventory was parsed",
    "Failed to load inventory plugin",
    "Found group_vars that is not a directory",
    "Found host_vars that is not a directory",
)
_PLUGIN = re.compile(r"'([\w.]+)' plugin")
# How ansible-core says it has no password to decrypt with (a wrong one reads otherwise).
_NO_PASSWORD = re.compile(r"must be specified|Attempting to decrypt but no vault secrets found")
_UNPARSED = re.compile(r"Unable to parse (.*) as an inventory source")
# The plugins whose failure explains why a source was not read, by its suffix (every plugin
# that could take a source says why it did not; most of them are beside the point).
_YAML_PLUGINS = ("yaml", "auto", "ansible.builtin.yaml", "ansible.builtin.auto")
_NOT_A_PLUGIN_CONFIG = "no root 'plugin' key found"
_initialized: list[bool] = []


def _init() -> None:
    if not _initialized:
        # As Ansible's own commands do first: the collection loader, for the inventory
        # plugins of installed collections.
        init_plugin_loader([])
        _initialized.append(True)
    # host_group_vars caches which vars files exist for the process; an inventory edited
    # since (invoke scale, a test suite) must be read afresh.
    host_group_vars.FOUND.clear()
    host_group_vars.NAK.clear()
    host_group_vars.CANONICAL_PATHS.clear()


def _message(exc: BaseException) -> str:
    text = exc.message if isinstance(exc, AnsibleError) else str(exc)
    return " ".join(text.split())


class _Skipped:
    """What Ansible says it could not read while it parses the sources, by file."""

    def __init__(self, sources: Sequence[str], inventory: InventoryManager) -> None:
        self.sources, self.inventory = sources, inventory
        self.found: list[str] = []
        # (plugin, why) of every plugin that tried the current source and failed.
        self.failures: list[tuple[str, str]] = []

    def current(self) -> str:
        # InventoryData knows which source a plugin is parsing (it sets inventory_file).
        data = getattr(self.inventory, "_inventory", None)
        return str(getattr(data, "current_source", None) or ", ".join(self.sources))

    def warning(self, msg: str) -> None:
        unparsed = _UNPARSED.match(msg)
        if unparsed and self.failures:
            source = unparsed.group(1)
            yamlish = source.endswith((".yml", ".yaml", ".json"))
            relevant = [
                f"{plugin} plugin: {why}"
                for plugin, why in self.failures
                if _NOT_A_PLUGIN_CONFIG not in why and (plugin in _YAML_PLUGINS) == yamlish
            ] or [f"{plugin} plugin: {why}" for plugin, why in self.failures]
            self.found.append(f"{source}: Ansible cannot read it: {'; '.join(relevant)}")
            self.failures = []
        elif unparsed or msg.startswith("No inventory was parsed"):
            if not self.found:
                self.found.append(f"{', '.join(self.sources)}: Ansible found no inventory in it")
        else:
            self.found.append(
                f"{self.current()}: Ansible skips part of it: {' '.join(msg.split())}"
            )

    def refusal(self) -> InventoryError | None:
        return InventoryError("; ".join(self.found)) if self.found else None


@contextmanager
def _watch_skipped(sources: Sequence[str], inventory: InventoryManager) -> Iterator[_Skipped]:
    """Collect Ansible's warnings that it skipped something, instead of showing them."""
    display = Display()
    skipped = _Skipped(sources, inventory)
    warn = display.warning

    def warning(msg: str, *args: Any, **kwargs: Any) -> None:
        if msg.startswith(_SKIPPED):
            skipped.warning(msg)
        else:
            warn(msg, *args, **kwargs)

    def error_as_warning(msg: str | None, exception: BaseException, **kwargs: Any) -> None:
        found = _PLUGIN.search(msg or "")
        skipped.failures.append((found.group(1) if found else "", _message(exception)))

    display.warning = warning
    display.error_as_warning = error_as_warning
    try:
        yield skipped
    finally:
        # Back to Display's own methods.
        del display.warning, display.error_as_warning


@contextmanager
def _operator_checks_ignored() -> Iterator[None]:
    """verify.d/ is queueops' and no inventory source: added, while Ansible walks the
    sources, to the names its directory walk skips (IGNORED: hidden files, group_vars/, the
    ignored extensions and patterns of its configuration)."""
    ignored = inventory_manager.IGNORED
    skip = rb"^" + re.escape(OPERATOR_CHECKS.encode()) + rb"$|"
    inventory_manager.IGNORED = re.compile(skip + ignored.pattern)
    try:
        yield
    finally:
        inventory_manager.IGNORED = ignored


def _exception_origin(exc: BaseException) -> Origin | None:
    """Where Ansible says an error is: an Origin on the error, or on the value it names."""
    seen: BaseException | None = exc
    while seen is not None:
        obj = getattr(seen, "obj", None)
        origin = (
            obj if isinstance(obj, Origin) else Origin.get_tag(obj) if obj is not None else None
        )
        if origin is not None and origin.path:
            return origin
        seen = seen.__cause__ or seen.__context__
    return None


def _place(origin: Origin | None, fallback: Path | str) -> str:
    if origin is None or not origin.path:
        return str(fallback)
    if origin.line_num and origin.col_num:
        return f"{origin.path}:{origin.line_num}:{origin.col_num}"
    return f"{origin.path}:{origin.line_num}" if origin.line_num else str(origin.path)


def _origin_of(value: Any) -> Origin | None:
    origin = Origin.get_tag(value)
    return origin if origin is not None and origin.path else None


class _EncryptedFiles:
    """Whether a value came from a vars file encrypted whole with Ansible Vault."""

    def __init__(self) -> None:
        self._known: dict[str, bool] = {}

    def holds(self, value: Any) -> bool:
        origin = _origin_of(value)
        if origin is None or origin.path is None:
            return False
        path = origin.path
        if path not in self._known:
            try:
                with open(path, "rb") as handle:
                    self._known[path] = handle.read(14) == b"$ANSIBLE_VAULT"
            except OSError:
                self._known[path] = False
        return self._known[path]


def _native(value: Any, secrets: set[str], secret: bool) -> Any:
    """Ansible's tagged values as plain Python values; strings from vault go to `secrets`."""
    secret = secret or VaultedValue.is_tagged_on(value)
    if isinstance(value, Mapping):
        return {_native(k, secrets, False): _native(v, secrets, secret) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_native(v, secrets, secret) for v in value]
    plain = AnsibleTagHelper.as_native_type(value)
    if secret and isinstance(plain, str):
        secrets.add(plain)
    return plain


def _template_names(value: Any, found: set[str]) -> None:
    """The variables the templates in `value` refer to."""
    if isinstance(value, str):
        if "{{" in value or "{%" in value:
            # A template that does not parse is refused when it is templated.
            with suppress(TemplateSyntaxError):
                found |= meta.find_undeclared_variables(Environment().parse(value))
    elif isinstance(value, Mapping):
        for item in value.values():
            _template_names(item, found)
    elif isinstance(value, list | tuple):
        for item in value:
            _template_names(item, found)


def _vault_refusal(where: str, key: str | None = None) -> InventoryError:
    what = f"{where}: {key}" if key else where
    return InventoryError(
        f"{what}: encrypted with Ansible Vault, and no vault password was given: pass "
        "--vault-password-file FILE or --vault-id [LABEL@]FILE, or set "
        "ANSIBLE_VAULT_PASSWORD_FILE (on a terminal, queueops asks for it)"
    )


def _needs_password(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, AnsibleVaultError) and _NO_PASSWORD.search(str(seen)):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _vaulted_file(sources: Sequence[str], basedirs: Sequence[Path]) -> str:
    """The first file of the inventory that holds vault data, for a message."""
    candidates = [Path(s) for s in sources]
    for base in basedirs:
        for sub in VARS_DIRS:
            if (base / sub).is_dir():
                candidates += sorted(p for p in (base / sub).rglob("*") if p.is_file())
    for path in candidates:
        try:
            text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
        except OSError:
            continue
        if text.startswith("$ANSIBLE_VAULT") or "!vault" in text:
            return str(path)
    return ", ".join(sources)


def _basedirs(sources: Sequence[str]) -> tuple[Path, ...]:
    dirs = []
    for source in sources:
        if "," in source and not os.path.exists(source):
            continue  # a host list
        directory = source if os.path.isdir(source) else os.path.dirname(source)
        dirs.append(Path(os.path.realpath(directory)))
    return tuple(dict.fromkeys(dirs))


class _NeedsPassword(Exception):
    def __init__(self, refusal: InventoryError) -> None:
        super().__init__(str(refusal))
        self.refusal = refusal


def read_with_ansible(sources: Sequence[str], defaults: Sequence[Path], vault: Vault) -> Read:
    """The inventory as ansible-core reads and templates it; asks for a vault password on a
    terminal when the inventory needs one and none was given."""
    _init()
    given = [s if "," in s and not os.path.exists(unfrack(s)) else unfrack(s) for s in sources]
    loader = DataLoader()
    secrets = vault_secrets(loader, vault, ask=False)
    try:
        return _Reader(given, defaults, loader).read()
    except _NeedsPassword as needed:
        if secrets or not can_ask():
            raise needed.refusal from None
    loader = DataLoader()
    vault_secrets(loader, vault, ask=True)
    try:
        return _Reader(given, defaults, loader).read()
    except _NeedsPassword as needed:
        raise needed.refusal from None


class _Reader:
    def __init__(self, sources: list[str], defaults: Sequence[Path], loader: DataLoader) -> None:
        self.sources, self.defaults, self.loader = sources, defaults, loader
        self.basedirs = _basedirs(sources)
        self.encrypted = _EncryptedFiles()

    def refusal(
        self, exc: AnsibleError, where: str, host: str | None = None, key: str | None = None
    ) -> Exception:
        if _needs_password(exc):
            if where == self.sources[0] and self.basedirs:
                where = _vaulted_file(self.sources, self.basedirs)
            return _NeedsPassword(_vault_refusal(f"{where}: host {host}" if host else where, key))
        reason = _message(exc)
        if host and key:
            message = f"{where}: host {host}: {key}: {reason}"
            return InventoryError(message, where, host, key, reason)
        return InventoryError(f"{where}: {reason}")

    def read(self) -> Read:
        inventory = InventoryManager(loader=self.loader, sources=self.sources, parse=False)
        try:
            with _watch_skipped(self.sources, inventory) as skipped, _operator_checks_ignored():
                inventory.parse_sources(cache=True)
        except AnsibleError as exc:
            where = _place(_exception_origin(exc), skipped.current())
            raise self.refusal(exc, where) from None
        refused = skipped.refusal()
        if refused is not None:
            raise refused
        manager = VariableManager(loader=self.loader, inventory=inventory)
        # As a play has them: `hostvars`, each host's variables templated on access.
        HostVars(inventory=inventory, variable_manager=manager, loader=self.loader)
        defaults: dict[str, Any] = {}
        default_origins: dict[str, Path] = {}
        for path in self.defaults:
            values = self.loader.load_from_file(str(path), trusted_as_template=True) or {}
            defaults.update(values)
            default_origins.update(dict.fromkeys(values, path))
        hosts = [self._host(inventory, manager, host, defaults, default_origins)
                 for host in inventory.hosts.values()]  # fmt: skip
        groups = inventory.groups.items()
        return Read(
            hosts=tuple(hosts),
            children={n: tuple(c.name for c in g.child_groups) for n, g in groups},
            direct={n: tuple(h.name for h in g.hosts) for n, g in groups},
            basedirs=self.basedirs,
        )

    def _host(
        self,
        inventory: InventoryManager,
        manager: VariableManager,
        host: Any,
        defaults: Mapping[str, Any],
        default_origins: Mapping[str, Path],
    ) -> ReadHost:
        source = Path(host.vars.get("inventory_file") or self.sources[0])
        try:
            every = manager.get_vars(host=host, include_hostvars=True)
        except AnsibleError as exc:
            raise self.refusal(exc, _place(_exception_origin(exc), source)) from None
        inventory_vars = {k: v for k, v in every.items() if k not in C.INTERNAL_STATIC_VARS}
        templar = Templar(loader=self.loader, variables={**defaults, **every})
        groups = sort_groups([g for g in host.get_groups() if g.name != "all"])
        everyone = [inventory.groups["all"], *groups]
        untagged = _UntaggedOrigins(self.loader, host, everyone, self.basedirs)
        values: dict[str, Any] = {}
        origins: dict[str, Path] = {}
        helpers: set[str] = set()
        secrets: set[str] = set()
        for key, value in {**defaults, **inventory_vars}.items():
            where = _place(_origin_of(value), source)
            try:
                rendered = templar.template(value)
            except AnsibleError as exc:
                raise self.refusal(exc, where, host.name, key) from None
            vaulted = isinstance(value, EncryptedString) or self.encrypted.holds(value)
            values[key] = _native(rendered, secrets, vaulted)
            origin = _origin_of(value)
            if key not in inventory_vars:
                origins[key] = default_origins[key]
            elif origin is not None and origin.path:
                origins[key] = Path(origin.path)
            else:
                origins[key] = untagged.of(key, source)
            _template_names(value, helpers)
        return ReadHost(
            name=host.name,
            groups=("all", *(g.name for g in groups)),
            vars=values,
            origins=origins,
            source=source,
            helpers=frozenset(helpers & set(values)),
            secrets=secret_values(values) | frozenset(secrets),
        )


class _UntaggedOrigins:
    """The file that set a value Ansible does not tag (a boolean, a null): the last layer of
    the host's variables, in precedence order, that sets the key."""

    def __init__(
        self, loader: DataLoader, host: Any, groups: list[Any], basedirs: Sequence[Path]
    ) -> None:
        self.loader, self.host, self.groups, self.basedirs = loader, host, groups, basedirs

    def _files(self, sub: str, name: str) -> Iterator[tuple[Any, Path]]:
        for base in self.basedirs:
            if (base / sub).is_dir():
                for path in self.loader.find_vars_files(str(base / sub), name):
                    yield self.loader.load_from_file(path, cache="all"), Path(path)

    def _layers(self, source: Path) -> Iterator[tuple[Any, Path]]:
        """Lowest first, as VariableManager.get_vars merges them."""
        for group in self.groups:
            yield group.get_vars(), source
        for group in self.groups:
            yield from self._files("group_vars", group.name)
        yield self.host.vars, source
        yield from self._files("host_vars", self.host.name)

    def of(self, key: str, source: Path) -> Path:
        found = source
        for values, path in self._layers(source):
            if isinstance(values, Mapping) and key in values:
                found = path
        return found
