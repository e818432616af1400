"""Root's writes in the app's directory, which its user may have booby-trapped: planted links
are not followed, a shared `.env` link stays a link, a link out of the app is refused."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

import pytest
import yaml

from queueops.shell import cmd
from tests.conftest import Lab
from tests.integration.test_horizon import environments
from tests.integration.test_horizon import inventory as horizon_inventory
from tests.integration.test_setup_worker import queueops, run_json

pytestmark = pytest.mark.lab

HOST = "app1"
APP = "/var/www/app"
ENV = f"{APP}/.env"
PWNED = "/etc/queueops-pwned"


def inventory(tmp: Path, lab: Lab, **extra: object) -> Path:
    inv = tmp / "inventory"
    (inv / "group_vars").mkdir(parents=True)
    hosts = {"workers": {"hosts": {HOST: {"ansible_host": lab.address(HOST)}}}}
    (inv / "hosts.yml").write_text(yaml.safe_dump({"all": {"children": hosts}}))
    common = {**lab.paths.connection_vars(), **extra}
    (inv / "group_vars" / "all.yml").write_text(yaml.safe_dump(common))
    programs = [{"name": "files", "queues": ["files"], "sleep": 1, "timeout": 30}]
    (inv / "group_vars" / "workers.yml").write_text(
        yaml.safe_dump({"queue_worker_app_path": APP, "queue_worker_programs": programs})
    )
    return inv


def as_app_user(lab: Lab, command: str) -> None:
    lab.ssh(HOST, cmd("runuser", "-u", lab.web_user(HOST), "--", "sh", "-c", command))


def stat(lab: Lab, path: str) -> str:
    """File type, owner and mode of the name itself (a link is not followed)."""
    return lab.ssh(HOST, cmd("stat", "-c", "%F %U %a", path)).stdout.strip()


def connection(lab: Lab, path: str) -> str:
    return lab.ssh(HOST, cmd("grep", "^QUEUE_CONNECTION=", path)).stdout.strip()


@pytest.fixture
def app_env(lab: Lab) -> Generator[str, None, None]:
    """The app's .env as it was (its content), put back whatever the test did to it."""
    saved = "/root/queueops-test-env"
    lab.ssh(HOST, cmd("cp", "-p", ENV, saved))
    yield lab.ssh(HOST, cmd("cat", ENV)).stdout
    lab.ssh(HOST, f"rm -rf {ENV} {PWNED} {APP}/.*.queueops-tmp /etc/queueops-env-copy "
                  f"/var/www/shared && mv {saved} {ENV}")  # fmt: skip


def test_links_planted_where_root_writes_are_not_followed(
    lab: Lab, tmp_path: Path, app_env: str
) -> None:
    inv = inventory(tmp_path, lab, queueops_backups_keep=1)
    before = stat(lab, ENV)
    # The name the old code wrote .env's new text through, planted by the app's user.
    as_app_user(lab, cmd("ln", "-s", PWNED, f"{APP}/..env.queueops-tmp"))

    doc = run_json("fallback-to-database", "-i", str(inv), "--yes", "--all")
    assert doc["summary"]["failed"] == 0, doc
    assert lab.ssh(HOST, cmd("test", "-e", PWNED), check=False).returncode != 0
    assert stat(lab, ENV) == before
    assert connection(lab, ENV) == "QUEUE_CONNECTION=database"

    doc = run_json("restore-redis", "-i", str(inv), "--yes", "--all")
    assert doc["summary"]["failed"] == 0, doc
    assert lab.ssh(HOST, cmd("test", "-e", PWNED), check=False).returncode != 0
    assert stat(lab, ENV) == before
    assert lab.ssh(HOST, cmd("cat", ENV)).stdout == app_env
    # Backups hold .env: root's alone, and only the newest (queueops_backups_keep: 1) is kept.
    assert stat(lab, "/var/backups/queueops").endswith("root 700")
    find = f"find /var/backups/queueops -path '*{ENV}' -printf '%u %m\\n' -exec cat {{}} +"
    kept = lab.ssh(HOST, find).stdout
    assert kept.startswith("root 600\n") and kept.count("root 600") == 1, kept
    assert "QUEUE_CONNECTION=database" in kept  # the one restore-redis made


def test_a_shared_env_link_stays_a_link_and_its_target_is_written(
    lab: Lab, tmp_path: Path, app_env: str
) -> None:
    """Deployer/Envoyer: .env -> ../shared/.env, all the app user's."""
    inv = inventory(tmp_path, lab)
    user = lab.web_user(HOST)
    lab.ssh(HOST, cmd("install", "-d", "-o", user, "-g", user, "/var/www/shared"))
    lab.ssh(HOST, f"mv {ENV} /var/www/shared/.env")
    as_app_user(lab, cmd("ln", "-s", "../shared/.env", ENV))
    target = stat(lab, "/var/www/shared/.env")

    run_json("fallback-to-database", "-i", str(inv), "--yes", "--all")
    assert stat(lab, ENV).startswith("symbolic link")
    assert lab.ssh(HOST, cmd("readlink", ENV)).stdout.strip() == "../shared/.env"
    assert connection(lab, "/var/www/shared/.env") == "QUEUE_CONNECTION=database"
    assert stat(lab, "/var/www/shared/.env") == target

    run_json("restore-redis", "-i", str(inv), "--yes", "--all")
    assert lab.ssh(HOST, cmd("readlink", ENV)).stdout.strip() == "../shared/.env"
    assert lab.ssh(HOST, cmd("cat", "/var/www/shared/.env")).stdout == app_env
    assert stat(lab, "/var/www/shared/.env") == target


def test_an_env_link_to_a_file_not_the_apps_own_is_refused(
    lab: Lab, tmp_path: Path, app_env: str
) -> None:
    inv = inventory(tmp_path, lab)
    copy = "/etc/queueops-env-copy"
    lab.ssh(HOST, f"cp {ENV} {copy} && chmod 644 {copy}")
    lab.ssh(HOST, f"rm {ENV}")
    as_app_user(lab, cmd("ln", "-s", copy, ENV))

    refused = queueops("fallback-to-database", "-i", str(inv), "--yes", "--all")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert f"{ENV} is a link to {copy}, which is not the app's own" in refused.stdout
    assert "Traceback" not in refused.stdout + refused.stderr
    assert lab.ssh(HOST, cmd("cat", copy)).stdout == app_env
    assert stat(lab, copy) == "regular file root 644"
    assert lab.ssh(HOST, cmd("readlink", ENV)).stdout.strip() == copy


def test_setup_horizon_does_not_write_through_a_link_planted_in_config(
    lab: Lab, tmp_path: Path
) -> None:
    """config/ is the app user's too: setup-horizon's horizon.php goes there."""
    planted = f"{APP}/config/.horizon.php.queueops-tmp"
    config = f"{APP}/config/horizon.php"
    as_app_user(lab, cmd("ln", "-s", PWNED, planted))
    try:
        # Queues of this test's own, so that horizon.php is written whatever ran before.
        inv = horizon_inventory(tmp_path, lab, environments(1, ["host-files"]))
        doc = run_json("setup-horizon", "-i", str(inv), "--host", HOST)
        assert ("update", config) in [(i["action"], i["item"]) for i in doc["hosts"][HOST]["items"]]
        assert lab.ssh(HOST, cmd("test", "-e", PWNED), check=False).returncode != 0
        assert stat(lab, config).startswith("regular file")
        assert "host-files" in lab.ssh(HOST, cmd("cat", config)).stdout
    finally:
        lab.ssh(HOST, cmd("rm", "-f", planted, PWNED))
