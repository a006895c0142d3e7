"""Session ids, as every entry point (log API, relay, dashboard) accepts them."""

from __future__ import annotations

import re
from typing import Annotated, Any, Final

from pydantic import StringConstraints
from werkzeug.exceptions import NotFound

SESSION_ID_PATTERN: Final = r"[0-9a-f]{32}"
"""A session id: 32 lowercase hex digits (a UUID4's hex)."""

SessionId = Annotated[str, StringConstraints(pattern=f"^{SESSION_ID_PATTERN}$")]
"""A request field that holds a session id."""


def check_session_id_in_url(_endpoint: str | None, values: dict[str, Any] | None) -> None:
    """A blueprint's `url_value_preprocessor`: a route's `<session_id>` that is not a session id is a 404 that
    says so, before any view or store sees it."""
    session_id = (values or {}).get("session_id")
    if session_id is not None and not re.fullmatch(SESSION_ID_PATTERN, session_id):
        raise NotFound(f"{session_id[:40]!r} is not a session id (32 hex digits, as POST /api/v1/sessions returns it)")
