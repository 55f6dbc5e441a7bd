"""Which API bases count as the dev platform on this machine, and which credentials are the
repository's own (config/dev.env, config/accounts.example.toml)."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, committed_credentials, is_loopback
from bot.config import check_fit_for_platform as check
from tests.conftest import SettingsFactory, account_of
from tests.test_cli import DEV


@pytest.mark.parametrize(("base", "loopback"), [
    ("http://127.0.0.1:8081", True),
    ("http://127.0.0.53:8081", True),
    ("http://localhost:8081", True),
    ("http://[::1]:8081", True),
    ("https://api.weixin.qq.com", False),
    ("http://10.0.0.5:8081", False),
    ("http://0.0.0.0:8081", False),
    ("http://localhost.example.cn", False),
    ("http://127.0.0.1.example.cn", False),
])
def test_what_counts_as_this_machine(base: str, loopback: bool) -> None:
    assert is_loopback(base) is loopback


def test_the_committed_credentials_are_read_from_both_files() -> None:
    known = committed_credentials()
    assert sorted(set(known.values())) == ["config/accounts.example.toml", "config/dev.env"]
    assert list(known.values()).count("config/dev.env") == 3  # Token, AppSecret, AES key
    assert "countyToken2026" in known


def test_dev_credentials_are_fine_with_the_dev_platform(make_settings: SettingsFactory) -> None:
    token = DEV["LIANXIN_WECHAT_TOKEN"]
    for base in ("http://127.0.0.1:8081", "https://localhost:8443"):
        settings = make_settings(wechat_token=token, wechat_api_base=base)
        check(settings, [account_of(settings)])
    settings = make_settings(wechat_token=token, wechat_api_base="https://wx-proxy.example.cn")
    with pytest.raises(ConfigError, match=r"^LIANXIN_WECHAT_TOKEN is the development Token"):
        check(settings, [account_of(settings)])
