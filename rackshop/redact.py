"""A process-wide registry of secret values, and the one function that masks them in text.

Every secret the configuration resolves (tokens, client secrets, webhook secrets) is
:func:`register`-ed here. Anything that may end up in front of a user or in a log file (HTTP
debug lines, exception messages, the log handlers) passes through :func:`redact` first.

Besides the registered values, :func:`redact` masks what looks like a credential even if nobody
registered it: Shopify tokens (``shpat_...``, ``shpca_...``, ``shppa_...``, ``shpss_...``,
``shpua_...``), ``Bearer <x>`` authorisation values, the ``X-Shopify-Access-Token`` header and
``access_token`` / ``client_secret`` fields in JSON or form bodies. A token obtained at run time
(the client-credentials grant) is therefore masked even before the client registers it.

The registry is global on purpose: a secret must be masked wherever it turns up, and threading a
registry through every logger and exception would be easy to forget once. :func:`clear` exists
for tests.
"""

from __future__ import annotations

import re
import threading
from urllib.parse import quote

MASK = "***"
"""What every masked value is replaced with."""

MIN_LENGTH = 6
"""Shorter values are not registered: masking ``"abc"`` everywhere would garble normal text."""

_lock = threading.Lock()
_values: set[str] = set()
_pattern: re.Pattern[str] | None = None

# Credentials recognised by their shape. Each keeps the part that says what it is (useful when
# debugging) and masks the value.
_GENERIC: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b(shp(?:at|ca|pa|ss|ua)_)[A-Za-z0-9]{6,}"), r"\1" + MASK),
    (re.compile(r"(\bBearer\s+)[^\s\"',;]+", re.IGNORECASE), r"\1" + MASK),
    (
        re.compile(r"(X-Shopify-Access-Token[\"']?\s*[:=]\s*[\"']?)[^\s\"',;}]+", re.IGNORECASE),
        r"\1" + MASK,
    ),
    (
        re.compile(
            # not after "." or "]": ``shops[1].client_secret: the file ... does not exist`` is
            # a config key path naming the key, not a credential
            r"((?<![.\]])(?:access_token|client_secret|refresh_token)[\"']?\s*[:=]\s*[\"']?)"
            r"[^\s\"'&,;}]+",
            re.IGNORECASE,
        ),
        r"\1" + MASK,
    ),
)


def register(value: str) -> None:
    """Remember a secret value so that :func:`redact` masks it from now on.

    Values shorter than :data:`MIN_LENGTH` characters are ignored (masking them would garble
    ordinary text, and a credential that short is not worth hiding). The URL-encoded form is
    registered too, so the value is also masked inside query strings.

    Args:
        value: The secret, as it would appear in a header or body.
    """
    global _pattern
    value = value.strip()
    if len(value) < MIN_LENGTH:
        return
    variants = {value, quote(value, safe="")}
    with _lock:
        if variants <= _values:
            return
        _values.update(variants)
        _pattern = None


def secrets() -> frozenset[str]:
    """Return every registered value (including URL-encoded variants)."""
    with _lock:
        return frozenset(_values)


def clear() -> None:
    """Forget every registered value. For tests; production code never needs it."""
    global _pattern
    with _lock:
        _values.clear()
        _pattern = None


def _registered_pattern() -> re.Pattern[str] | None:
    global _pattern
    with _lock:
        if _pattern is None and _values:
            # Longest first, so a secret that contains another one is masked as a whole.
            alternatives = sorted(_values, key=len, reverse=True)
            _pattern = re.compile("|".join(re.escape(v) for v in alternatives))
        return _pattern


def redact(text: str) -> str:
    """Return ``text`` with every registered secret and every credential-looking value masked.

    Args:
        text: Any text: a log line, an exception message, a request or response dump.

    Returns:
        The text with secrets replaced by ``***``.
    """
    if not text:
        return text
    pattern = _registered_pattern()
    if pattern is not None:
        text = pattern.sub(MASK, text)
    for generic, replacement in _GENERIC:
        text = generic.sub(replacement, text)
    return text


__all__ = ["MASK", "MIN_LENGTH", "clear", "redact", "register", "secrets"]
