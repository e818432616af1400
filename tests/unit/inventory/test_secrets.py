"""Secrets remembered from the inventory are masked in text, in JSON values and on stdout."""

from __future__ import annotations

import io
import sys

import pytest

from queueops.inventory.secrets import MASK, mask_text, masked, masked_output, remember


def test_text_holding_a_secret_shows_the_mask_in_its_place() -> None:
    remember(["s3cret-become", "s3cret-become-longer"])
    assert mask_text("sudo -S <<< s3cret-become-longer; s3cret-become") == (
        f"sudo -S <<< {MASK}; {MASK}"
    )


def test_json_values_holding_a_secret_are_masked_whole() -> None:
    remember(["hunter22"])
    doc = {"password": "hunter22", "url": "redis://:hunter22@host", "n": 3, "list": ["ok"]}
    assert masked(doc) == {"password": MASK, "url": MASK, "n": 3, "list": ["ok"]}


def test_values_too_short_to_be_secrets_are_not_remembered() -> None:
    remember(["no", "ops"])
    assert mask_text('{"ops": "no"}') == '{"ops": "no"}'


def test_stdout_and_stderr_mask_while_a_task_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    remember(["tune-redis-secret"])
    with masked_output():
        print("AUTH tune-redis-secret")
        print("error: tune-redis-secret refused", file=sys.stderr)
    print("after: tune-redis-secret")
    assert out.getvalue() == f"AUTH {MASK}\nafter: tune-redis-secret\n"
    assert err.getvalue() == f"error: {MASK} refused\n"
    assert sys.stdout is out
