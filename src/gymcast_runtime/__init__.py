"""The Python side of gymcast's browser runtime: it runs inside Pyodide, and natively for checks and replay."""

from gymcast_runtime.callbacks import Callback
from gymcast_runtime.session import GameSession, SessionConfigError

__all__ = ["Callback", "GameSession", "SessionConfigError"]
