"""Settings from the environment, the accounts file, and start-up failures."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, Settings, load_accounts, load_settings
from tests.conftest import AES_KEY

ROOT = Path(__file__).resolve().parents[1]
BASE_ENV = {
    "LIANXIN_WECHAT_TOKEN": "tok3n",
    "LIANXIN_WECHAT_APP_ID": "wxabc",
    "LIANXIN_WECHAT_APP_SECRET": "sec",
}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for key in list(os.environ):
        if key.startswith("LIANXIN_"):
            monkeypatch.delenv(key)
    for key, value in BASE_ENV.items():
        monkeypatch.setenv(key, value)
    return monkeypatch


def test_defaults_are_the_embedded_ones(env: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert settings.database_url.startswith("sqlite+aiosqlite:")
    assert settings.redis_url is None
    assert settings.wechat_aes_key is None
    assert settings.wechat_api_base == "https://api.weixin.qq.com"
    assert (settings.timestamp_window, settings.reply_budget) == (300, 4.0)
    assert settings.max_body_bytes == 65536


@pytest.mark.parametrize(("name", "value", "message"), [
    ("LIANXIN_WECHAT_TOKEN", None, "LIANXIN_WECHAT_TOKEN is not set"),
    ("LIANXIN_WECHAT_APP_SECRET", None, "LIANXIN_WECHAT_APP_SECRET is not set"),
    ("LIANXIN_WECHAT_AES_KEY", "short", "LIANXIN_WECHAT_AES_KEY: Value error, must be 43"),
    ("LIANXIN_WECHAT_AES_KEY", "!" * 43, "LIANXIN_WECHAT_AES_KEY: Value error, must be base64"),
    ("LIANXIN_PORT", "eighty", "LIANXIN_PORT:"),
    ("LIANXIN_PORT", "70000", "LIANXIN_PORT:"),
    ("LIANXIN_WECHAT_API_BASE", "ftp://x", "LIANXIN_WECHAT_API_BASE:"),
    ("LIANXIN_WECHAT_TOKEN", "has space", "LIANXIN_WECHAT_TOKEN:"),
    ("LIANXIN_REPLY_BUDGET", "6", "LIANXIN_REPLY_BUDGET:"),
    ("LIANXIN_WECHAT_APP_SECRET", "", "LIANXIN_WECHAT_APP_SECRET:"),
    ("LIANXIN_DATABASE_URL", "nonsense", "LIANXIN_DATABASE_URL: Value error, is not a database"),
    ("LIANXIN_DATABASE_URL", "postgresql://u@h/db", "LIANXIN_DATABASE_URL: Value error, driver"),
    ("LIANXIN_REDIS_URL", "nonsense", "LIANXIN_REDIS_URL: Value error, must be redis://"),
])
def test_bad_setting_is_named(env: pytest.MonkeyPatch, name: str, value: str | None,
                              message: str) -> None:
    if value is None:
        env.delenv(name)
    else:
        env.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_valid_aes_key_enables_safe_mode(env: pytest.MonkeyPatch) -> None:
    env.setenv("LIANXIN_WECHAT_AES_KEY", AES_KEY)
    assert load_settings().wechat_aes_key == AES_KEY


def _accounts(env: pytest.MonkeyPatch, tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "accounts.toml"
    path.write_text(text, encoding="utf-8")
    env.setenv("LIANXIN_ACCOUNTS_FILE", str(path))
    return [a.path for a in load_accounts(load_settings())]


def test_accounts_file_adds_paths(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    paths = _accounts(env, tmp_path, (
        '[accounts.county]\ntoken="abc123"\napp_id="wx1"\napp_secret="s"\n'
        f'[accounts.lawyers]\ntoken="def456"\napp_id="wx2"\napp_secret="s"\naes_key="{AES_KEY}"\n'
    ))
    assert paths == ["/wechat", "/wechat/county", "/wechat/lawyers"]


@pytest.mark.parametrize(("text", "message"), [
    ("[accounts.county]\napp_id='wx'\napp_secret='s'\n", "[accounts.county]: token is not set"),
    ("[accounts.County]\ntoken='abc'\napp_id='wx'\napp_secret='s'\n", "name must be"),
    ("[accounts.c]\ntoken='abc'\napp_id='wx'\napp_secret='s'\naes_key='x'\n", "aes_key must"),
    ("[accounts.c]\ntoken='abc'\napp_id='wx'\napp_secret='s'\ncolour='red'\n",
     "unknown key colour"),
    ("[accounts.c\n", "LIANXIN_ACCOUNTS_FILE"),
    ("title='no accounts'\n", "needs at least one [accounts.NAME]"),
])
def test_bad_accounts_file_is_named(env: pytest.MonkeyPatch, tmp_path: Path, text: str,
                                    message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        _accounts(env, tmp_path, text)


def test_missing_accounts_file(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env.setenv("LIANXIN_ACCOUNTS_FILE", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match="file not found"):
        load_accounts(load_settings())


def test_serve_with_missing_setting_stops_with_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIANXIN_")}
    env.update(BASE_ENV)
    del env["LIANXIN_WECHAT_APP_ID"]
    done = subprocess.run([sys.executable, "-m", "bot.cli", "serve"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == "lianxin: LIANXIN_WECHAT_APP_ID is not set"


def test_readme_documents_every_setting() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `(LIANXIN_[A-Z_]+)`", readme, flags=re.MULTILINE))
    expected = {f"LIANXIN_{name.upper()}" for name in Settings.model_fields}
    assert documented == expected
