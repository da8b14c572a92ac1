"""The one redaction rule for outbound calls: what may reach a message, an output or a log line.

Every known secret value (four characters or more) becomes `***`, and so does the value of every
query parameter that carries credentials by name (`api_key`, `sig`, `token`, ...: ReviewPro signs
its query string, QRS repeats its xrfkey there). The same rule runs on our error messages and,
through a logging filter, on the HTTP library's own debug lines (urllib3 logs request paths).
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable

CREDENTIAL_PARAMS = (
    "api_key",
    "apikey",
    "key",
    "sig",
    "signature",
    "token",
    "access_token",
    "client_secret",
    "code",
    "password",
    "xrfkey",
)
_QUERY = re.compile(r"(?i)(?<![A-Za-z0-9_])(" + "|".join(CREDENTIAL_PARAMS) + r")=[^&\s\"'#]*")
MIN_SECRET_LENGTH = 4
_REGISTRY_SIZE = 256
_LIBRARY_LOGGERS = ("urllib3.connectionpool", "urllib3.connection", "urllib3.util.retry")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Return `text` with secret values and credential query values replaced by `***`."""
    for value in sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}, key=len)[::-1]:
        text = text.replace(value, "***")
    return _QUERY.sub(lambda m: f"{m.group(1)}=***", text)


class _Registry:
    """Secret values in flight, for library log lines (bounded: the newest are kept)."""

    def __init__(self) -> None:
        self._values: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, values: Iterable[str]) -> None:
        with self._lock:
            for value in values:
                if value and len(value) >= MIN_SECRET_LENGTH:
                    self._values[value] = None
                    self._values.move_to_end(value)
            while len(self._values) > _REGISTRY_SIZE:
                self._values.popitem(last=False)

    def values(self) -> list[str]:
        with self._lock:
            return list(self._values)


_REGISTRY = _Registry()


def remember_secrets(values: Iterable[str]) -> None:
    """Make library log lines hide these values too (the client calls this before sending)."""
    _REGISTRY.add(values)


class RedactingFilter(logging.Filter):
    """Rewrite HTTP library log records with the redaction rule."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Replace the record's message by its redacted form."""
        message = record.getMessage()
        clean = redact(message, _REGISTRY.values())
        if clean != message:
            record.msg, record.args = clean, None
        return True


_FILTER = RedactingFilter()


def install_library_filter() -> None:
    """Attach the filter to urllib3's loggers once per process."""
    for name in _LIBRARY_LOGGERS:
        library_logger = logging.getLogger(name)
        if _FILTER not in library_logger.filters:
            library_logger.addFilter(_FILTER)
