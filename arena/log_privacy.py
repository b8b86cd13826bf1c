"""Logs never hold a raw IP address or a visitor's words.

- AddressMaskingFilter masks any IP address in a log message, for servers whose own messages name the client
  (gunicorn writes "Invalid request from ip=...").
- RowValueFilter drops SQLAlchemy's row-by-row debug records: with DEBUG logging on, the engine would write
  every fetched row (messages and replies among them) to the log. Statements stay; their parameters are hidden by
  the engine (arena.db.make_engine)."""

from __future__ import annotations

import ipaddress
import logging
import re

# Candidates only; each is confirmed by `ipaddress`, so times (20:41:33) and versions (1.2.3) stay as they are.
_IPV4 = r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?![\w.])"
_IPV6 = r"(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w.])"
_CANDIDATE = re.compile(f"{_IPV4}|{_IPV6}")
MASK = "[address]"


def _mask(match: re.Match) -> str:
    text = match.group(0)
    # "ip=::1: error": the colon after an IPv6 address is punctuation, not part of it.
    address = text.rstrip(":") if text.count(":") > 1 else text
    if ":" in address and "::" not in address and address.count(":") != 7:
        # Eight groups or a "::": anything else is no IPv6 address (the time in every access log line is a
        # candidate), and is answered here rather than by an exception from `ipaddress`.
        return text
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return text
    return MASK + text[len(address) :]


def mask_addresses(text: str) -> str:
    return _CANDIDATE.sub(_mask, text)


class AddressMaskingFilter(logging.Filter):
    """Rewrites each record's message with every IP address masked (never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_addresses(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


class RowValueFilter(logging.Filter):
    """Drops SQLAlchemy's "Row ..." debug records, which carry the fetched values."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith("Row "))


ROW_VALUE_FILTER = RowValueFilter()


def keep_row_values_out_of_logs() -> None:
    # On the logger SQLAlchemy's engines write to (filters do not apply to records propagated from children, and
    # engines log under this exact name unless given a logging_name). Adding the same instance twice is a no-op.
    logging.getLogger("sqlalchemy.engine.Engine").addFilter(ROW_VALUE_FILTER)
