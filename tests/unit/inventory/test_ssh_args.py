"""How an Ansible inventory says a host is reached: ssh args, password keys, become."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from queueops.errors import InventoryError
from queueops.inventory.host import Connection, Hop
from queueops.kinds import host_settings

from ..trees import load_web1


def reach(tmp_path: Path, **host_vars: Any) -> Connection:
    host, keys = load_web1(tmp_path, host_vars=host_vars)
    return host_settings(host, keys).connection


def refusal(tmp_path: Path, **host_vars: Any) -> str:
    with pytest.raises(InventoryError) as caught:
        reach(tmp_path, **host_vars)
    assert caught.value.exit_code == 2
    return str(caught.value)


@pytest.mark.parametrize(
    ("args", "hops"),
    [
        ("-o ProxyJump=bastion", (Hop("bastion"),)),
        ("-o ProxyJump=ops@bastion:2222", (Hop("bastion", "ops", 2222),)),
        ("-J ops@b1,b2:2200", (Hop("b1", "ops"), Hop("b2", None, 2200))),
        ("-Jbastion", (Hop("bastion"),)),
        ("-o 'ProxyJump root@10.0.0.1'", (Hop("10.0.0.1", "root"),)),
    ],
)
def test_proxyjump_in_all_its_spellings(tmp_path: Path, args: str, hops: tuple[Hop, ...]) -> None:
    assert reach(tmp_path, ansible_ssh_common_args=args).jumps == hops


def test_extra_args_join_common_args(tmp_path: Path) -> None:
    conn = reach(
        tmp_path,
        ansible_ssh_common_args="-o UserKnownHostsFile=~/fleet/known_hosts",
        ansible_ssh_extra_args="-o StrictHostKeyChecking=accept-new -o ControlPersist=60s",
    )
    assert conn.known_hosts_file == str(Path("~/fleet/known_hosts").expanduser())
    assert conn.host_key_checking == "accept-new"
    assert conn.jumps == () and conn.proxy_command is None


def test_inventory_dir_is_expanded_in_ssh_args(tmp_path: Path) -> None:
    conn = reach(tmp_path, ansible_ssh_common_args="-o UserKnownHostsFile={{ inventory_dir }}/kh")
    assert conn.known_hosts_file == f"{tmp_path.resolve()}/kh"


def test_proxycommand_is_kept_as_words(tmp_path: Path) -> None:
    conn = reach(tmp_path, ansible_ssh_common_args='-o ProxyCommand="ssh -W %h:%p -q ops@b1"')
    assert conn.proxy_command == "ssh -W %h:%p -q ops@b1"


@pytest.mark.parametrize(
    ("args", "named"),
    [
        ("-o ForwardAgent=yes", "-o 'ForwardAgent=yes' is not supported"),
        ("-A", "argument '-A' is not supported"),
        ("-i /tmp/key", "argument '-i' is not supported"),
        ("-o ProxyJump=$(reboot)", "is not a safe name"),
        ("-o ProxyJump=`id`@b1", "is not a safe user name"),
        ("-o ProxyJump=b1:22x", "the port must be a number"),
        ('-o ProxyCommand="nc %h %p; rm -rf /"', "uses shell syntax"),
        ('-o ProxyCommand="$(curl x) %h"', "uses shell syntax"),
        ("-o StrictHostKeyChecking=maybe", "use yes, accept-new or no"),
        ("-o ProxyJump=b1 -o ProxyCommand=nc", "either a ProxyJump or a ProxyCommand"),
        ("-o", "has no value"),
        ("-o 'unbalanced", "cannot split"),
    ],
)
def test_anything_else_is_refused_naming_the_option(tmp_path: Path, args: str, named: str) -> None:
    message = refusal(tmp_path, ansible_ssh_common_args=args)
    assert named in message and "ansible_ssh_common_args" in message and "web1" in message


@pytest.mark.parametrize("key", ["ansible_password", "ansible_ssh_pass"])
def test_password_logins_are_refused(tmp_path: Path, key: str) -> None:
    message = refusal(tmp_path, **{key: "hunter2"})
    assert f"{key}: password logins are not supported" in message
    assert "hunter2" not in message


def test_become_password_is_kept_and_never_shown(tmp_path: Path) -> None:
    conn = reach(tmp_path, ansible_user="ops", ansible_become=True,
                 ansible_become_password="s3cr3t")  # fmt: skip
    assert conn.become_password == "s3cr3t"
    assert "s3cr3t" not in repr(conn)
    message = refusal(tmp_path / "bad", ansible_become_password="two\nlines")
    assert "ansible_become_password: must be a non-empty string" in message
    assert "two" not in message


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"ansible_become_user": "postgres"}, "ansible_become_user: queueops becomes root only"),
        ({"ansible_become_method": "su"}, "ansible_become_method: queueops becomes root with sudo"),
    ],
)
def test_become_other_than_root_by_sudo_is_refused(
    tmp_path: Path, variables: dict[str, str], named: str
) -> None:
    assert named in refusal(tmp_path, **variables)
