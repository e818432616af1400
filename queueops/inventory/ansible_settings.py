"""Whether Ansible's configuration leaves an inventory as the plain reader reads it.

Ansible's settings can change how it reads an inventory: which plugins parse a source, which
files of a directory are sources, how variables merge, which vars plugins run, what a group
name becomes. The plain reader knows Ansible's defaults only. So it reads an inventory only
when every ANSIBLE_* environment variable and every key of every ansible.cfg Ansible may read
is one of those below, which change nothing about inventories; anything else (a setting we
do not know included) hands the inventory to ansible-core, which reads the configuration
itself. Checking every candidate file, where Ansible reads only the first it finds, can only
send more inventories to ansible-core, never fewer.
"""

from __future__ import annotations

import os
from pathlib import Path

from queueops.inventory.read import HandOff

# How Ansible finds its configuration: ANSIBLE_CONFIG, ./ansible.cfg, ~/.ansible.cfg, then
# /etc/ansible/ansible.cfg (the first that exists wins).
CONFIG_ENV = "ANSIBLE_CONFIG"
SYSTEM_CONFIG = Path("/etc/ansible/ansible.cfg")
# Directories whose vars plugins Ansible runs without being told to (DEFAULT_VARS_PLUGIN_PATH).
VARS_PLUGIN_DIRS = ("~/.ansible/plugins/vars", "/usr/share/ansible/plugins/vars")

# Sections about connections, privilege escalation, output and Galaxy.
_SECTIONS = frozenset(
    {
        "ssh_connection",
        "paramiko_connection",
        "connection",
        "persistent_connection",
        "privilege_escalation",
        "colors",
        "diff",
        "galaxy",
        "selinux",
    }
)
# [defaults] keys about running tasks, connections, output, and plugins that only templates
# use (the plain reader reads no template but `{{ inventory_dir }}`), vault (it reads no vault).
_DEFAULTS = frozenset(
    {
        "action_plugins",
        "ansible_managed",
        "any_errors_fatal",
        "ask_pass",
        "ask_vault_pass",
        "become",
        "become_ask_pass",
        "become_method",
        "become_user",
        "bin_ansible_callbacks",
        "callback_plugins",
        "callback_result_format",
        "callback_whitelist",
        "callbacks_enabled",
        "collections_path",
        "collections_paths",
        "command_warnings",
        "connection_plugins",
        "deprecation_warnings",
        "display_ok_hosts",
        "display_skipped_hosts",
        "filter_plugins",
        "force_color",
        "forks",
        "gather_subset",
        "gather_timeout",
        "gathering",
        "host_key_checking",
        "interpreter_python",
        "library",
        "local_tmp",
        "localhost_warning",
        "log_path",
        "lookup_plugins",
        "module_utils",
        "nocolor",
        "nocows",
        "pipelining",
        "poll_interval",
        "private_key_file",
        "remote_port",
        "remote_tmp",
        "remote_user",
        "retry_files_enabled",
        "retry_files_save_path",
        "roles_path",
        "show_custom_stats",
        "stdout_callback",
        "strategy",
        "strategy_plugins",
        "system_warnings",
        "test_plugins",
        "timeout",
        "transport",
        "vault_identity",
        "vault_identity_list",
        "vault_id_match",
        "vault_password_file",
    }
)
_ENV = frozenset(
    {
        "ANSIBLE_ASK_VAULT_PASS",
        "ANSIBLE_BECOME",
        "ANSIBLE_BECOME_METHOD",
        "ANSIBLE_BECOME_USER",
        "ANSIBLE_CALLBACK_RESULT_FORMAT",
        "ANSIBLE_CALLBACKS_ENABLED",
        "ANSIBLE_COLLECTIONS_PATH",
        "ANSIBLE_CONFIG",
        "ANSIBLE_DEPRECATION_WARNINGS",
        "ANSIBLE_FORCE_COLOR",
        "ANSIBLE_FORKS",
        "ANSIBLE_GATHERING",
        "ANSIBLE_HOST_KEY_CHECKING",
        "ANSIBLE_LOAD_CALLBACK_PLUGINS",
        "ANSIBLE_LOG_PATH",
        "ANSIBLE_NOCOLOR",
        "ANSIBLE_NOCOWS",
        "ANSIBLE_PIPELINING",
        "ANSIBLE_PRIVATE_KEY_FILE",
        "ANSIBLE_PYTHON_INTERPRETER",
        "ANSIBLE_REMOTE_PORT",
        "ANSIBLE_REMOTE_USER",
        "ANSIBLE_RETRY_FILES_ENABLED",
        "ANSIBLE_ROLES_PATH",
        "ANSIBLE_SSH_ARGS",
        "ANSIBLE_SSH_PIPELINING",
        "ANSIBLE_STDOUT_CALLBACK",
        "ANSIBLE_TIMEOUT",
        "ANSIBLE_VAULT_IDENTITY",
        "ANSIBLE_VAULT_IDENTITY_LIST",
        "ANSIBLE_VAULT_ID_MATCH",
        "ANSIBLE_VAULT_PASSWORD_FILE",
    }
)


def config_candidates() -> list[Path]:
    """Every ansible.cfg Ansible may read from here, whichever it would pick."""
    found = []
    given = os.environ.get(CONFIG_ENV)
    if given:
        path = Path(os.path.expanduser(given))
        found.append(path / "ansible.cfg" if path.is_dir() else path)
    found += [Path("ansible.cfg"), Path(os.path.expanduser("~/.ansible.cfg")), SYSTEM_CONFIG]
    return [path for path in found if path.is_file()]


def _keys(path: Path) -> list[tuple[str, str]]:
    """(section, key) of every setting of an INI file, as configparser reads them."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise HandOff(f"{path}: cannot read: {exc}") from None
    section, out = "", []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")) or raw[:1].isspace():
            continue  # blank, comment, or the continuation of a multi-line value
        if line.startswith("["):
            section = line.strip("[]").strip().lower()
            continue
        key = line.split("=", 1)[0].split(":", 1)[0].strip().lower()
        out.append((section, key))
    return out


def check_neutral() -> None:
    """HandOff naming the first setting that could make Ansible read an inventory otherwise."""
    for name in os.environ:
        if name.startswith("ANSIBLE_") and name not in _ENV:
            raise HandOff(f"the environment sets {name}")
    for path in config_candidates():
        for section, key in _keys(path):
            if section in _SECTIONS or (section == "defaults" and key in _DEFAULTS):
                continue
            raise HandOff(f"{path} sets [{section}] {key}")
    for directory in VARS_PLUGIN_DIRS:
        where = Path(os.path.expanduser(directory))
        if where.is_dir() and any(where.iterdir()):
            raise HandOff(f"{where} holds vars plugins")
