"""Who may use the dashboard: the admin token, exchanged at login for a signed session cookie.

Everything is kept in the store (the token, the signing secret, failed logins), so several host
processes share it and no per-process state is needed.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, jsonify, request

from gymcast.storage import EventStore

COOKIE = "gymcast_admin"
CSRF_HEADER = "X-CSRF-Token"
SESSION_S = 12 * 3600
#: At most this many failed logins from one address within FAILED_WINDOW_S; then it is answered 429.
MAX_FAILED = 10
FAILED_WINDOW_S = 60.0
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")


def store() -> EventStore:
    """The host's event store."""
    return current_app.extensions["gymcast.store"]


def _key(store: EventStore) -> bytes:
    """The key that signs admin cookies: changes when the admin token is rotated, ending every login."""
    token, _ = store.admin_token()
    return hmac.new(store.host_secret(), b"admin:" + token.encode(), hashlib.sha256).digest()


def _mac(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def login_cookie(store: EventStore, now: float | None = None) -> str:
    """A new login: `issued.nonce.mac`."""
    body = f"{int(now or time.time())}.{secrets.token_hex(8)}"
    return f"{body}.{_mac(_key(store), body)}"


def cookie_valid(store: EventStore, cookie: str | None, now: float | None = None) -> bool:
    """True for a login cookie this host signed within the last SESSION_S."""
    if not cookie or cookie.count(".") != 2:
        return False
    issued, nonce, mac = cookie.split(".")
    if not hmac.compare_digest(_mac(_key(store), f"{issued}.{nonce}"), mac) or not issued.isdigit():
        return False
    return (now or time.time()) - int(issued) < SESSION_S


def csrf_token(store: EventStore, cookie: str) -> str:
    """The CSRF token of one login (sent back by the page in the X-CSRF-Token header)."""
    return _mac(_key(store), "csrf:" + cookie)


def token_valid(store: EventStore, presented: str) -> bool:
    """Constant-time check of a presented admin token."""
    token, _ = store.admin_token()
    return bool(presented) and hmac.compare_digest(token.encode(), presented.encode())


def too_many_failures(store: EventStore) -> bool:
    """True while this address's recent failed logins reach the limit."""
    failed = store.iter_admin_events(since=time.time() - FAILED_WINDOW_S, kind="login_failed")
    return sum(1 for event in failed if event.data.get("addr") == request.remote_addr) >= MAX_FAILED


def record_failure(store: EventStore, how: str) -> None:
    """Log a failed login (it counts towards the rate limit)."""
    store.append_admin_event("login_failed", f"{how} from {request.remote_addr}", {"addr": request.remote_addr})


def actor() -> str:
    """Who is acting, for the admin log: how they logged in and from where."""
    how = "bearer" if _bearer() else "login " + (request.cookies.get(COOKIE, "")[:19] or "?")
    return f"{how} from {request.remote_addr}"


def _bearer() -> str:
    header = request.headers.get("Authorization", "")
    return header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""


def same_origin() -> bool:
    """False when the browser says the request comes from another site (Origin or Referer)."""
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        return False
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if not source or source == "null":
        return source is None
    parts = urlsplit(source)
    return f"{parts.scheme}://{parts.netloc}" == request.host_url.rstrip("/")


def authorised() -> str | None:
    """Why this request may not use the admin API, or None when it may.

    A Bearer token is checked as is (scripts). A login cookie must also, for state-changing
    methods, come from this site with the login's CSRF token.
    """
    current = store()
    bearer = _bearer()
    if bearer:
        if too_many_failures(current):
            return "too many failed logins; wait a minute"
        if token_valid(current, bearer):
            return None
        record_failure(current, "bearer")
        return "wrong admin token"
    cookie = request.cookies.get(COOKIE)
    if not cookie_valid(current, cookie):
        return "log in first (open the link `gymcast admin-token --data DB` prints)"
    if request.method in UNSAFE:
        presented = request.headers.get(CSRF_HEADER, "")
        if not same_origin() or not hmac.compare_digest(csrf_token(current, cookie or ""), presented):
            return "cross-site request refused (missing or wrong CSRF token)"
    return None


def admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Answer 401 (JSON) unless the request is authorised; see `authorised`."""

    @functools.wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        refusal = authorised()
        if refusal is not None:
            status = 429 if refusal.startswith("too many") else 403 if refusal.startswith("cross-site") else 401
            return jsonify(error=refusal), status
        return view(*args, **kwargs)

    return guarded
