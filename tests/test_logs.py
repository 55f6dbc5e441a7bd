"""Phone numbers, mobile or landline, never reach a log line in full."""

from __future__ import annotations

import logging

import pytest

from bot.logs import MaskPhones, mask_phones


@pytest.mark.parametrize(("raw", "masked"), [
    ("call 13812345678 now", "call 138****5678 now"),
    ("电话:19900001111。", "电话:199****1111。"),
    ("two 13800138000,15912345678", "two 138****8000,159****5678"),
    ("not a phone 12345678901 or 138123456789", "not a phone 12345678901 or 138123456789"),
    ("LX20261122-000123", "LX20261122-000123"),
    ("座机 0731-84567890，", "座机 0731-****7890，"),
    ("landline (010)62345678 and 02162345678", "landline 010-****5678 and 021-****5678"),
    ("手机幺三八〇〇一三八〇〇〇", "手机138****8000"),
    ("2026-11-23 10:20:30,123 took 0.731 s", "2026-11-23 10:20:30,123 took 0.731 s"),
])
def test_mask_phones(raw: str, masked: str) -> None:
    assert mask_phones(raw) == masked


def test_filter_masks_arguments_and_tracebacks() -> None:
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "user %s wrote %s",
                               ("oU", "我的电话13812345678"), None)
    try:
        raise ValueError("bad phone 13912345678")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    assert MaskPhones().filter(record)
    assert record.getMessage() == "user oU wrote 我的电话138****5678"
    assert record.exc_text is not None
    assert "139****5678" in record.exc_text
    assert "13912345678" not in record.exc_text
