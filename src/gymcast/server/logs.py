"""The log API: create a session, append acknowledged batches of events."""

from __future__ import annotations

import time
import uuid

from flask import Blueprint, Response, current_app, jsonify, request
from pydantic import BaseModel, ValidationError

from gymcast.server.admin.recruitment import may_retake, new_session_refusal
from gymcast.server.assignment import ACTIVE_FOR_S, choose_condition
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
    """Register (or resume) a participant's session; answers `{session_id, token, condition, next_seq, resumed}`.

    A participant who completed the experiment before gets a 409 unless `allow_repeat`; one with an
    unfinished session gets that session back, with its condition.
    """
    parsed = _parse(SessionCreate)
    if not isinstance(parsed, SessionCreate):
        return parsed
    store = _store()
    previous = store.latest_session_of(parsed.experiment, parsed.participant_id) if parsed.participant_id else None
    if previous and previous.completed_at is not None and not (parsed.allow_repeat or may_retake(store, previous)):
        return api_error(409, f"participant {parsed.participant_id!r} has already completed this study")
    if previous is None and parsed.session_id:
        previous = store.get_session(parsed.session_id)
        if previous and previous.participant_id != parsed.participant_id:
            return api_error(409, "that session id belongs to another participant; propose a new one")
    if previous is not None and previous.completed_at is None:
        return _session_reply(store, previous.session_id, previous.condition, resumed=True)
    if refusal := new_session_refusal(store):  # the dashboard closed recruitment
        return api_error(403, refusal)
    session_id = parsed.session_id or uuid.uuid4().hex
    counts = store.condition_counts(parsed.experiment, parsed.conditions, time.time() - ACTIVE_FOR_S)
    condition = choose_condition(counts, parsed.assignment)
    store.create_session(
        NewSession(
            session_id,
            parsed.experiment,
            parsed.build_id,
            parsed.url_params,
            parsed.user_agent,
            time.time(),
            parsed.participant_id,
            condition,
        )
    )
    return _session_reply(store, session_id, condition, resumed=False)


def _session_reply(store: EventStore, session_id: str, condition: str | None, resumed: bool):
    return jsonify(
        session_id=session_id,
        token=session_token(store.host_secret(), session_id),
        condition=condition,
        next_seq=store.next_seq(session_id),
        resumed=resumed,
    ), 200 if resumed else 201


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
