"""Logging set-up: one format, phone numbers (mobiles and landlines) masked in every line,
and no SQL statement's parameters or result rows printed at any level."""

from __future__ import annotations

import logging
import sys

from domain import contact

mask_phones = contact.mask_phones  # what the log filter applies to every line

# Libraries that print what a statement carries (a citizen's openid, description, phone,
# location) when their logger is let through below a level. Each is held at that level
# whatever LIANXIN_LOG_LEVEL says; the engine itself hides parameters in its exceptions
# (storage/db.py, hide_parameters=True).
QUIET_BELOW = {
    "aiosqlite": logging.INFO,  # DEBUG: every call with its arguments and results
    "sqlalchemy.engine": logging.WARNING,  # INFO: each statement; DEBUG: each result row
    "asyncpg": logging.INFO,
    "alembic": logging.INFO,
}


class MaskPhones(logging.Filter):
    """Rewrites each record's message, traceback and stack with phone numbers masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_phones(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_phones(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_phones(record.stack_info)
        return True


def configure(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(MaskPhones())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    numeric = logging.getLevelName(level)
    for name, floor in QUIET_BELOW.items():
        logging.getLogger(name).setLevel(max(floor, numeric))
    # APScheduler announces every job run at INFO, and warns of every tick skipped while a
    # long delivery round still runs (max_instances=1, by design); job errors still show
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, numeric))
    logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
