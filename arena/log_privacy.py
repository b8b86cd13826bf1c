"""Logs never hold a raw IP address: a filter that masks any address in a log message (for servers whose own
messages name the client, such as gunicorn's "Invalid request from ip=...")."""

from __future__ import annotations

import ipaddress
import logging
import re

# Candidates only; each is confirmed by `ipaddress`, so times such as 20:41:33 and versions such as 1.2.3 stay.
_CANDIDATE = re.compile(r"(?<![\w.:])(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7})(?![\w.:])")
MASK = "[address]"


def _mask(match: re.Match) -> str:
    try:
        ipaddress.ip_address(match.group(0))
    except ValueError:
        return match.group(0)
    return MASK


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
