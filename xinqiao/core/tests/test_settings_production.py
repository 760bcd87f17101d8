"""Production mode refuses default secrets and DEBUG; each case starts a real interpreter."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
GOOD = {
    "XINQIAO_ENV": "production",
    "XINQIAO_SECRET_KEY": "p" * 50,
    "XINQIAO_PII_KEYS": "1:" + base64.b64encode(b"k" * 32).decode(),
    "XINQIAO_BLIND_INDEX_KEY": base64.b64encode(b"b" * 32).decode(),
    "XINQIAO_DEBUG": "False",
}


def boot(env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("XINQIAO_") and k != "DATABASE_URL"}
    clean.update(env)
    clean["DJANGO_SETTINGS_MODULE"] = "config.settings"
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('booted')"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_production_with_real_secrets_boots():
    result = boot(GOOD)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "booted"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"XINQIAO_SECRET_KEY": ""}, "XINQIAO_SECRET_KEY"),
        ({"XINQIAO_PII_KEYS": ""}, "XINQIAO_PII_KEYS"),
        ({"XINQIAO_BLIND_INDEX_KEY": ""}, "XINQIAO_BLIND_INDEX_KEY"),
        ({"XINQIAO_DEBUG": "True"}, "XINQIAO_DEBUG"),
    ],
)
def test_production_refuses_defaults(override, message):
    env = {**GOOD, **override}
    env = {k: v for k, v in env.items() if v != ""}
    result = boot(env)
    assert result.returncode != 0
    assert "Refusing to start in production" in result.stderr
    assert message in result.stderr


def test_secret_from_file(tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("f" * 50 + "\n", encoding="utf-8")
    env = {**GOOD, "XINQIAO_SECRET_KEY_FILE": str(secret_file)}
    del env["XINQIAO_SECRET_KEY"]
    result = boot(env)
    assert result.returncode == 0, result.stderr


def test_strict_booleans():
    result = boot({"XINQIAO_DEBUG": "yes"})
    assert result.returncode != 0
    assert "XINQIAO_DEBUG must be True or False" in result.stderr
