"""Condition assignment for new participants."""

from __future__ import annotations

import secrets

#: A session that has not completed counts towards its condition for this long after it started.
ACTIVE_FOR_S = 2 * 3600


def choose_condition(counts: dict[str, int], assignment: str) -> str | None:
    """ "balanced": a condition with the fewest participants (ties broken at random); "random": any."""
    if not counts:
        return None
    if assignment == "random":
        return secrets.choice(sorted(counts))
    fewest = min(counts.values())
    return secrets.choice(sorted(name for name, count in counts.items() if count == fewest))
