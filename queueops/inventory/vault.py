"""Ansible Vault passwords: where they come from, as ansible-inventory takes them.

--vault-password-file FILE and --vault-id [LABEL@]SOURCE (SOURCE: a file, an executable that
prints the password, or `prompt`), then ANSIBLE_VAULT_PASSWORD_FILE and vault_identity_list of
Ansible's configuration. With none of them, a terminal is asked once, when the inventory holds
vault data. No password ever reaches a command line: files are read, prompts are typed.
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from queueops.errors import UsageError

if TYPE_CHECKING:
    from ansible.parsing.dataloader import DataLoader


@dataclass(frozen=True)
class Vault:
    password_files: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()


NO_VAULT = Vault()


def can_ask() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def vault_secrets(loader: DataLoader, vault: Vault, ask: bool) -> list[tuple[str, Any]]:
    """Ansible's secrets for `vault` (and its own settings), set on the loader and as the
    process's vault context, which decrypts `!vault` values when they are used."""
    with warnings.catch_warnings():
        # cryptography warns about DSA when ansible-core's ssh-agent support is imported.
        warnings.simplefilter("ignore")
        from ansible import constants as C
        from ansible.cli import CLI
        from ansible.errors import AnsibleError
        from ansible.parsing.vault import VaultSecretsContext

    try:
        secrets: list[tuple[str, Any]] = CLI.setup_vault_secrets(
            loader,
            vault_ids=[*C.DEFAULT_VAULT_IDENTITY_LIST, *vault.ids],
            vault_password_files=list(vault.password_files),
            ask_vault_pass=ask,
            auto_prompt=False,
            initialize_context=False,
        )
    except AnsibleError as exc:
        raise UsageError(f"vault password: {exc.message}") from None
    loader.set_vault_secrets(secrets)
    # The context can be set once a process; later reads (a test suite, a retry after the
    # prompt) change its secrets.
    context = VaultSecretsContext.current(optional=True)
    if context is None:
        VaultSecretsContext.initialize(VaultSecretsContext(secrets))
    else:
        context.secrets[:] = secrets
    return secrets
