"""The log API: create a session, append acknowledged batches of events."""

from __future__ import annotations

import json
import time
import uuid

from flask import Blueprint, Response, current_app, jsonify, request
from pydantic import BaseModel, ValidationError

from gymcast.server.schema import SCHEMA_VERSION, EventBatch, SessionCreate
from gymcast.server.tokens import session_token, token_matches
from gymcast.storage import EventStore, NewSession

logs = Blueprint("logs", __name__, url_prefix="/api/v1")


def _store() -> EventStore:
    return current_app.extensions["gymcast.store"]


def api_error(status: int, message: str) -> tuple[Response, int]:
    """A JSON error reply: `{"error": message}`."""
    return jsonify(error=message, schema=SCHEMA_VERSION), status


def _parse(model: type[BaseModel]) -> BaseModel | tuple[Response, int]:
    body = request.get_data(cache=False)
    try:
        return model.model_validate_json(body)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        return api_error(400, f"{where}: {first['msg']} ({error.error_count()} problem(s) in the request)")


@logs.post("/sessions")
def create_session():
    """Register a participant session; answers `{session_id, token}`."""
    parsed = _parse(SessionCreate)
    if not isinstance(parsed, SessionCreate):
        return parsed
    session_id = uuid.uuid4().hex
    store = _store()
    store.create_session(NewSession(session_id, parsed.experiment, parsed.build_id, parsed.url_params,
                                    parsed.user_agent, time.time()))
    return jsonify(session_id=session_id, token=session_token(store.host_secret(), session_id)), 201


@logs.post("/sessions/<session_id>/events")
def append_events(session_id: str):
    """Append a batch; answers `{acked: [seq, ...]}` once it is durable."""
    store = _store()
    if not store.session_exists(session_id):
        return api_error(404, f"unknown session {session_id!r}; create it with POST /api/v1/sessions first")
    token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not token or not token_matches(store.host_secret(), session_id, token):
        return api_error(403, "missing or wrong session token; send the token that POST /api/v1/sessions returned")
    parsed = _parse(EventBatch)
    if not isinstance(parsed, EventBatch):
        return parsed
    events = [event.model_dump(exclude_unset=True) for event in parsed.events]
    seqs = [event["seq"] for event in events]
    if len(set(seqs)) != len(seqs):
        return api_error(400, "events: a batch repeats a seq; every event in a batch needs its own seq")
    acked = store.append_events(session_id, events)
    return jsonify(acked=acked)
