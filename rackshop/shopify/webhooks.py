"""Shopify webhook signatures.

Shopify signs each delivery with base64(HMAC-SHA256(app secret, raw body)) in the
``X-Shopify-Hmac-Sha256`` header. Verification must use the raw bytes (not re-serialised JSON)
and compare in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac


def sign(body: bytes, secret: str) -> str:
    """The ``X-Shopify-Hmac-Sha256`` value for ``body`` (used by the sandbox and tests)."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify(body: bytes, header: str | None, secret: str) -> bool:
    """True when ``header`` is the correct signature of ``body`` under ``secret``."""
    if not header:
        return False
    try:
        given = header.strip().encode("ascii")
    except UnicodeEncodeError:  # not base64 at all: certainly not our signature
        return False
    return hmac.compare_digest(sign(body, secret).encode("ascii"), given)
