"""Logging set-up: one format, and mainland mobile numbers masked in every line."""

from __future__ import annotations

import logging
import sys

from domain.contact import mask_mobile

mask_phones = mask_mobile  # what the log filter applies to every line


class MaskPhones(logging.Filter):
    """Rewrites each record's message (and traceback) with phone numbers masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_phones(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_phones(record.exc_text)
        return True


def configure(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(MaskPhones())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # APScheduler announces every job run at INFO, and warns of every tick skipped while a
    # long delivery round still runs (max_instances=1, by design); job errors still show
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, logging.getLevelName(level)))
    logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
