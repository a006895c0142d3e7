"""The log API: create or resume a session, append acknowledged batches, hand out the completion code."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Blueprint, Response, current_app, jsonify, request
from pydantic import ValidationError

from gymcast.ids import takes_session_id
from gymcast.server.admin.recruitment import may_retake, new_session_refusal
from gymcast.server.assignment import ACTIVE_FOR_S
from gymcast.server.bundle import CompletionCode
from gymcast.server.guard import charge, limits
from gymcast.server.schema import EVENT_BATCH, SCHEMA_VERSION, CompletionRequest, SessionCreate
from gymcast.server.sessions import registration_decision
from gymcast.server.static import served_bundle
from gymcast.storage import ERROR_EVENT, EventStore, SeqConflict, SessionClosed, StoredEvent
from gymcast.tokens import session_token, token_matches

logs = Blueprint("logs", __name__, url_prefix="/api/v1")
Parsed = TypeVar("Parsed")


def _store() -> EventStore:
    return current_app.extensions["gymcast.store"]


def api_error(status: int, message: str, **details: object) -> tuple[Response, int]:
    """A JSON error reply: `{"error": message, **details}`."""
    return jsonify(error=message, schema=SCHEMA_VERSION, **details), status


def _parse(validate: Callable[[bytes], Parsed]) -> Parsed | tuple[Response, int]:
    """The request body through `validate` (a model's or adapter's `validate_json`), or the 400 that names
    its first problem."""
    body = request.get_data(cache=False)
    try:
        return validate(body)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        return api_error(400, f"{where}: {first['msg']} ({error.error_count()} problem(s) in the request)")


@logs.post("/sessions")
def create_session():
    """Register (or resume) a participant's session; answers `{session_id, token, condition, next_seq, resumed}`.

    The study's rules come from the served bundle (see `registration_decision`): a completed
    participant gets a 409 unless repeats are allowed, a session resumes only with the device's
    resume secret or its token, and a participant id without that proof gets a new session flagged
    as a duplicate.
    """
    parsed = _parse(SessionCreate.model_validate_json)
    if isinstance(parsed, tuple):
        return parsed
    store, rules = _store(), served_bundle().rules
    secret = store.host_secret()
    decide = registration_decision(
        parsed,
        rules,
        lambda sid, token: token_matches(secret, sid, token),
        retake_allowed=lambda previous: may_retake(store, previous),
        recruitment_refusal=lambda: new_session_refusal(store),
    )
    decision = store.register_session(
        rules.experiment,
        parsed.participant_id,
        parsed.session_id,
        (list(rules.conditions), time.time() - ACTIVE_FOR_S),
        decide,
    )
    if decision.session is None:
        return api_error(decision.status, decision.message)
    session, resumed = decision.session, decision.action == "resume"
    return jsonify(
        session_id=session.session_id,
        token=session_token(secret, session.session_id),
        condition=session.condition,
        next_seq=store.next_seq(session.session_id),
        resumed=resumed,
    ), 200 if resumed else 201


def _authorized(session_id: str) -> tuple[Response, int] | None:
    """None when the request carries `session_id`'s token, else the 404/403 reply.

    The token is checked first: the host signs only the ids of sessions it stored, and it never deletes one, so a
    matching token proves the session exists without a query (this runs for every batch)."""
    store = _store()
    token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if token and token_matches(store.host_secret(), session_id, token):
        return None
    if not store.session_exists(session_id):
        return api_error(404, f"unknown session {session_id!r}; create it with POST /api/v1/sessions first")
    return api_error(403, "missing or wrong session token; send the token that POST /api/v1/sessions returned")


@logs.post("/sessions/<session_id>/events")
@takes_session_id
def append_events(session_id: str):
    """Append a batch; answers `{acked: [seq, ...]}` once it is durable.

    A seq stored before with other content is a 409 (nothing of the batch is written); so are new
    events for a completed session.
    """
    refused = _authorized(session_id)
    if refused:
        return refused
    limited = charge(f"session:{session_id}", 1, limits().requests_per_session, "requests for this session")
    limited = limited or charge(
        f"session-bytes:{session_id}", len(request.get_data()), limits().bytes_per_session, "bytes for this session"
    )
    if limited:
        return limited
    parsed = _parse(EVENT_BATCH.validate_json)
    if isinstance(parsed, tuple):
        return parsed
    events = cast(list[dict[str, Any]], parsed["events"])  # TypedDicts are plain dicts
    seqs = [event["seq"] for event in events]
    if len(set(seqs)) != len(seqs):
        return api_error(400, "events: a batch repeats a seq; every event in a batch needs its own seq")
    try:
        acked = _store().append_events(session_id, events)
    except SeqConflict as conflict:
        return api_error(
            409,
            f"events: {conflict}; number new events after the stored ones (next_seq)",
            conflicts=conflict.seqs,
            next_seq=_store().next_seq(session_id),
        )
    except SessionClosed:
        return api_error(409, "this session has completed (or ended by an error) and takes no more events")
    return jsonify(acked=acked)


@logs.post("/sessions/<session_id>/completion")
@takes_session_id
def completion_code(session_id: str):
    """The study's completion code and redirect, once this session's completion event is stored.

    With `ending` "error": the partial code of `Experiment.on_error`, once the session's `error` event is
    stored (which ends the session: it takes no more events, so it cannot complete afterwards). A session
    gets one of the two codes, never both: the full code is refused once an error is stored, the partial
    code once a completion is.
    """
    refused = _authorized(session_id)
    if refused:
        return refused
    parsed = _parse(CompletionRequest.model_validate_json)
    if isinstance(parsed, tuple):
        return parsed
    store = _store()
    completed = [e for e in store.events_of_type(session_id, "completion") if not e.data.get("partial")]
    errored = store.events_of_type(session_id, ERROR_EVENT)
    if parsed.ending == "error":
        return _error_code(completed, errored)
    if errored:
        return api_error(409, "this session ended by an error in the study; ask for its partial code (ending: error)")
    if not completed:
        return api_error(409, "no completion is stored for this session yet; send the completion event first")
    return _code_reply(
        served_bundle().completion, "this host does not know the study's completion code (is <bundle>.host.json there?)"
    )


def _error_code(completed: list[StoredEvent], errored: list[StoredEvent]) -> tuple[Response, int] | Response:
    """The reply to a request for the partial code of a session that ended by an error."""
    if completed:
        return api_error(409, "this session completed; it has the completion code, not the error code")
    if not errored:
        return api_error(409, "no error is stored for this session; send the error event first")
    return _code_reply(
        served_bundle().error_code, "this study has no error code (Experiment.on_error), or this host does not know it"
    )


def _code_reply(code: CompletionCode | None, unknown: str) -> tuple[Response, int] | Response:
    """A code and its redirect, or a 404 saying `unknown`."""
    if code is None:
        return api_error(404, unknown)
    return jsonify(code=code.code, redirect=code.redirect, schema=SCHEMA_VERSION)
