"""Session tokens: an HMAC of the session id, so a browser can append only to its own session."""

from __future__ import annotations

import hashlib
import hmac


def session_token(secret: bytes, session_id: str) -> str:
    """The token that authorises appending to `session_id`."""
    return hmac.new(secret, session_id.encode(), hashlib.sha256).hexdigest()


def token_matches(secret: bytes, session_id: str, token: str) -> bool:
    """Constant-time check of a presented token."""
    return hmac.compare_digest(session_token(secret, session_id), token)
