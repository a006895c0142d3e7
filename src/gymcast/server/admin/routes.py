"""The `/admin` blueprint: login, the dashboard page, its JSON API, downloads and logged actions."""

from __future__ import annotations

import html
import io
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, redirect, request, send_file

from gymcast.export import export_jsonl
from gymcast.ids import is_session_id, takes_session_id
from gymcast.manifest import BundleManifest
from gymcast.server.admin import auth
from gymcast.server.admin.live import end_group, live_relay
from gymcast.server.admin.multiplayer import multiplayer_view
from gymcast.server.admin.recruitment import recruitment_open
from gymcast.server.admin.state import GONE_AFTER_S, load_participants, overview, participant_detail

admin = Blueprint("admin", __name__, url_prefix="/admin")
STATIC = resources.files("gymcast.server.admin").joinpath("static")
DOWNLOADS = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet", "jsonl": "application/x-ndjson"}


@admin.after_request
def private(response: Response) -> Response:
    """Nothing of the dashboard is cached, framed or sniffed."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"  # "no-referrer" would make a form's Origin "null"
    return response


def _manifest() -> BundleManifest:
    """The manifest of the bundle the host serves now (parsed once per version of the bundle, not per poll)."""
    return current_app.extensions["gymcast.bundle"].current().manifest


def _gone_after() -> float:
    value = request.args.get("gone_after_s", current_app.config.get("GYMCAST_GONE_AFTER_S", GONE_AFTER_S))
    try:
        return max(1.0, float(value))
    except ValueError:
        return GONE_AFTER_S


def _waiting() -> set[str]:
    return {w["session_id"] for w in live_relay()["waiting"]}


# -- login ------------------------------------------------------------------------------------------------------


@admin.get("/login")
def login_page():
    """With `?token=`: log in and go to the clean dashboard URL. Without: the login form."""
    if "token" in request.args:
        return _log_in(request.args["token"])
    return _page("login.html", {}), 200


@admin.post("/login")
def login_form():
    """The login form's POST (from this site only)."""
    if not auth.same_origin():
        return jsonify(error="cross-site login refused"), 403
    return _log_in(request.form.get("token", ""))


def _log_in(presented: str):
    store = auth.store()
    if auth.too_many_failures(store):
        return _page("login.html", {"ERROR": "Too many failed logins; wait a minute."}), 429
    if not auth.token_valid(store, presented.strip()):
        auth.record_failure(store, "login")
        return _page("login.html", {"ERROR": "That is not this study's admin token."}), 401
    cookie = auth.login_cookie(store)
    store.append_admin_event("login", f"login {cookie[:19]} from {request.remote_addr}", {})
    response = redirect("/admin/", code=303)
    response.set_cookie(
        auth.COOKIE,
        cookie,
        max_age=auth.SESSION_S,
        httponly=True,
        samesite="Strict",
        secure=request.is_secure,
        path="/admin",
    )
    return response


@admin.post("/logout")
@auth.admin_required
def logout():
    """End this login (the cookie is dropped)."""
    response = jsonify(ok=True)
    response.delete_cookie(auth.COOKIE, path="/admin")
    return response


# -- pages ----------------------------------------------------------------------------------------------------


@admin.get("/")
def dashboard():
    """The dashboard page; without a login, the login form."""
    cookie = request.cookies.get(auth.COOKIE)
    if not auth.cookie_valid(auth.store(), cookie):
        return redirect("/admin/login", code=303)
    return _page("dashboard.html", {"CSRF": auth.csrf_token(auth.store(), cookie or ""), "TITLE": _manifest().name})


@admin.get("/replay")
def replay_page():
    """The replay viewer for one logged episode (`?session=&scene=&episode=&attempt=`)."""
    if not auth.cookie_valid(auth.store(), request.cookies.get(auth.COOKIE)):
        return redirect("/admin/login", code=303)
    return _page("replay.html", {"RUNTIME": "/" + _manifest().runtime.lstrip("/"), "TITLE": _manifest().name})


LOGIN_PAGE_FILES = frozenset({"login.js", "login.css"})


@admin.get("/static/<name>")
def static_file(name: str):
    """The dashboard's scripts and styles (after login; the login page's own before it)."""
    if name not in LOGIN_PAGE_FILES and not auth.cookie_valid(auth.store(), request.cookies.get(auth.COOKIE)):
        return jsonify(error="log in first"), 401
    entry = STATIC.joinpath(name)
    if "/" in name or not entry.is_file():
        return jsonify(error="no such file"), 404
    mimetype = "text/javascript" if name.endswith(".js") else "text/css" if name.endswith(".css") else "text/plain"
    return Response(entry.read_bytes(), mimetype=mimetype)


def _page(name: str, values: dict[str, str]) -> Response:
    text = STATIC.joinpath(name).read_text()
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", html.escape(value))
    text = text.replace("{{ERROR}}", "")
    return Response(text, mimetype="text/html")


# -- the JSON API ---------------------------------------------------------------------------------------------


@admin.get("/api/overview")
@auth.admin_required
def api_overview():
    """Counts by state and condition, the scene funnel, codes, boot times, browsers, devices, errors."""
    manifest = _manifest()
    scenes = [scene["name"] for scene in manifest.flow.get("scenes", [])]
    completion = current_app.extensions["gymcast.bundle"].current().completion
    data = overview(
        load_participants(auth.store()),
        scenes,
        manifest.flow.get("conditions", []),
        _waiting(),
        _gone_after(),
        completion.code if completion else None,
    )
    return jsonify({**data, "experiment": manifest.name, "recruitment_open": recruitment_open(auth.store())})


@admin.get("/api/participants")
@auth.admin_required
def api_participants():
    """One entry per participant session: id, URL parameters, condition, state, current scene."""
    now, gone, waiting = time.time(), _gone_after(), _waiting()
    return jsonify(participants=[p.summary(now, gone, waiting) for p in load_participants(auth.store())])


@admin.get("/api/participants/<session_id>")
@auth.admin_required
@takes_session_id
def api_participant(session_id: str):
    """One participant: parameters, condition, timeline, survey answers, episodes, group."""
    found = load_participants(auth.store(), session_id)
    if not found:
        return jsonify(error=f"no session {session_id!r}"), 404
    group = auth.store().group_of(session_id)
    return jsonify({**participant_detail(found[0], _waiting(), _gone_after()), "group": group})


@admin.get("/api/episodes/<session_id>")
@auth.admin_required
@takes_session_id
def api_episodes(session_id: str):
    """Every logged episode of a session, for the replay viewer: game, seed, and each step's logged record."""
    from gymcast.server.admin.episodes import episodes_of

    if auth.store().get_session(session_id) is None:
        return jsonify(error=f"no session {session_id!r}"), 404
    return jsonify(episodes=episodes_of(auth.store(), session_id))


@admin.get("/api/multiplayer")
@auth.admin_required
def api_multiplayer():
    """The waiting room now, the groups in play and the groups that ended."""
    return jsonify(multiplayer_view(auth.store(), live_relay()))


@admin.get("/api/actions")
@auth.admin_required
def api_actions():
    """The admin log: every action and login, who and when."""
    return jsonify(actions=[vars(e) for e in auth.store().iter_admin_events()][-200:])


@admin.get("/api/download/<fmt>")
@auth.admin_required
def api_download(fmt: str):
    """The whole study's events (or `?session=` one participant's) as csv, parquet or jsonl, exactly as
    `gymcast export` writes them."""
    if fmt not in DOWNLOADS:
        return jsonify(error=f"format must be one of {', '.join(DOWNLOADS)}"), 400
    session_id = request.args.get("session") or None
    if session_id is not None and not is_session_id(session_id):
        return jsonify(error="session must be a session id (32 hex digits), as the participants list shows it"), 400
    name = f"{_manifest().name}{'-' + session_id if session_id else ''}.{fmt}"
    if fmt == "jsonl":
        text = io.StringIO()
        export_jsonl(auth.store(), text, session_id)
        data = text.getvalue().encode()
    else:
        from gymcast.export.tables import export_table

        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder) / name
            export_table(auth.store(), out, fmt, session_id)
            data = out.read_bytes()
    return send_file(io.BytesIO(data), mimetype=DOWNLOADS[fmt], as_attachment=True, download_name=name)


# -- actions (each logged with who and when) -----------------------------------------------------------------


@admin.post("/api/recruitment")
@auth.admin_required
def api_recruitment():
    """`{"open": false}` closes recruitment (new participants are turned away), `{"open": true}` reopens it."""
    wanted = bool(_body().get("open"))
    auth.store().append_admin_event("recruitment_opened" if wanted else "recruitment_closed", auth.actor(), {})
    return jsonify(recruitment_open=recruitment_open(auth.store()))


@admin.post("/api/groups/<group_id>/end")
@auth.admin_required
def api_end_group(group_id: str):
    """End a stuck group: its members get the game's configured end."""
    ended = end_group(group_id, "ended_by_researcher")
    auth.store().append_admin_event("group_ended", auth.actor(), {"group_id": group_id, "live": ended})
    return jsonify(ended=ended), 200 if ended else 404


@admin.post("/api/participants/<session_id>/retake")
@auth.admin_required
@takes_session_id
def api_retake(session_id: str):
    """Let this session's participant take the study again (once, from a fresh start)."""
    session = auth.store().get_session(session_id)
    if session is None or not session.participant_id:
        return jsonify(error="no such session, or it has no participant id to recognise them by"), 404
    data = {"participant_id": session.participant_id, "experiment": session.experiment, "session_id": session_id}
    auth.store().append_admin_event("retake_allowed", auth.actor(), data)
    return jsonify(retake_allowed=data)


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}
