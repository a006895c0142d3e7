"""The players: keys 1-7 for the columns (clicks and taps work too), and the scripted Python opponent."""

from __future__ import annotations

from board import COLUMNS

from gymcast import Human, PythonPolicy

COLUMN_KEYS = {str(column + 1): column for column in range(COLUMNS)}


def human() -> Human:
    """A person who moves with a click or tap on a column, or keys 1-7; no default action (turn-based)."""
    return Human(keys=COLUMN_KEYS, default_action=None)


SCRIPTED = PythonPolicy(policy="scripted:ScriptedPlayer")
