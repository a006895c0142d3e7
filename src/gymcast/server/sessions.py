"""Who gets which session: resume only with proof of ownership, duplicates flagged, conditions assigned.

The decision is pure: `registration_decision` returns a function the store runs inside the
transaction that then carries it out.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from collections.abc import Callable

from gymcast.server.assignment import choose_condition
from gymcast.server.bundle import StudyRules
from gymcast.server.schema import SessionCreate
from gymcast.storage import Decision, NewSession, Registration


def secret_hash(secret: str | None) -> str:
    """What the host stores of a device's resume secret ("" for none)."""
    return hashlib.sha256(secret.encode()).hexdigest() if secret else ""


def registration_decision(
    request: SessionCreate,
    rules: StudyRules,
    token_ok: Callable[[str, str], bool],
    retake_allowed: Callable[[NewSession], bool] = lambda previous: False,
    recruitment_refusal: Callable[[], str | None] = lambda: None,
) -> Callable[[Registration], Decision]:
    """How to answer `request` under the served study's `rules`.

    * The proposed session id resumes that session only with its resume secret or its token;
      without them, that id is refused (409).
    * A participant whose first session completed is refused (409) unless the study allows repeats or a
      researcher let them take it again (`retake_allowed`).
    * A participant with an unfinished session who brings no proof gets a new session, flagged as a
      duplicate of the first and given its condition; the researcher sees both.
    * Otherwise a new session, with a condition chosen among those that count (see `choose_condition`),
      unless recruitment is closed (`recruitment_refusal` gives the message; 403): participants already
      in the study can still finish.
    """
    hashed = secret_hash(request.resume_secret)

    def owns(session: NewSession) -> bool:
        by_secret = bool(hashed and session.resume_hash) and hmac.compare_digest(hashed, session.resume_hash)
        return by_secret or bool(request.resume_token and token_ok(session.session_id, request.resume_token))

    def decide(registration: Registration) -> Decision:
        participant = request.participant_id
        proposed = registration.proposed
        if proposed is not None:
            if not owns(proposed) or proposed.participant_id != participant or proposed.experiment != rules.experiment:
                return Decision(
                    "refuse",
                    status=409,
                    message="that session id belongs to another participant or device; propose a new one",
                )
            if proposed.completed_at is None:
                return Decision("resume", proposed)  # whatever others did with this participant id
        # Only sessions opened with the participant's first session count: a duplicate someone completed
        # with a borrowed id does not lock the participant out.
        if not rules.allow_repeat and any(
            s.completed_at is not None and s.duplicate_of is None and not retake_allowed(s)
            for s in registration.participant_sessions
        ):
            return Decision(
                "refuse", status=409, message=f"participant {participant!r} has already completed this study"
            )
        session_id = request.session_id if proposed is None and request.session_id else uuid.uuid4().hex
        first = next(
            (s for s in registration.participant_sessions if s.completed_at is None and s.duplicate_of is None), None
        )
        if first is not None:
            condition, duplicate_of = first.condition, first.session_id
        else:
            refusal = recruitment_refusal()
            if refusal is not None:
                return Decision("refuse", status=403, message=refusal)
            condition = choose_condition(registration.counts(), rules.assignment) if rules.conditions else None
            duplicate_of = None
        return Decision(
            "create",
            NewSession(
                session_id,
                rules.experiment,
                rules.build_id,
                request.url_params,
                request.user_agent,
                time.time(),
                participant,
                condition,
                duplicate_of=duplicate_of,
                resume_hash=hashed,
            ),
        )

    return decide
