"""Session ids, as every entry point (log API, relay, dashboard) accepts them."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Annotated, Any, Final

from pydantic import StringConstraints
from werkzeug.exceptions import NotFound

SESSION_ID_PATTERN: Final = r"[0-9a-f]{32}"
"""A session id: 32 lowercase hex digits (a UUID4's hex)."""

SessionId = Annotated[str, StringConstraints(pattern=f"^{SESSION_ID_PATTERN}$")]
"""A request field that holds a session id."""


def is_session_id(text: str) -> bool:
    """Whether `text` is a well-formed session id."""
    return re.fullmatch(SESSION_ID_PATTERN, text) is not None


def takes_session_id(view: Callable[..., Any]) -> Callable[..., Any]:
    """A view whose route has `<session_id>`: an id that is not a session id is a 404 that says so, before the
    view or the store sees it (apply it under any authentication decorator, so that one answers first)."""

    @functools.wraps(view)
    def checked(*args: Any, session_id: str, **kwargs: Any) -> Any:
        if not is_session_id(session_id):
            raise NotFound(
                f"{session_id[:40]!r} is not a session id (32 hex digits, as POST /api/v1/sessions returns it)"
            )
        return view(*args, session_id=session_id, **kwargs)

    return checked
