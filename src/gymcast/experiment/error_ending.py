"""What a participant sees when the study stops because of an error in it (the env or a callback raised).

The partial code is a secret like the completion code: the host hands it out only once it stored the
session's `error` event (see `gymcast.bundler.codes`), and never for a session that completed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from gymcast.experiment.errors import ConfigError

CODE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_CONTACT = 500


@dataclass(frozen=True)
class ErrorEnding:
    """The partial-completion `code` (and the `redirect` that carries it), and a `contact` line."""

    code: str = ""
    redirect: str = ""
    contact: str = ""

    def validate(self, completion_code: str | None) -> None:
        """Raise ConfigError for a bad field, or a code equal to the study's completion code."""
        for name in ("code", "redirect", "contact"):
            value = getattr(self, name)
            if not isinstance(value, str):
                raise ConfigError(f"on_error.{name}", f"expected a string, got {value!r}", 'pass e.g. "C1234ERR"')
        if self.code and not CODE_PATTERN.match(self.code):
            raise ConfigError(
                "on_error.code",
                f"{self.code!r} is not a code a participant can copy",
                "use 1 to 64 letters, digits, '-' or '_', e.g. \"C1234ERR\"",
            )
        if self.redirect and not re.match(r"^https?://", self.redirect):
            raise ConfigError(
                "on_error.redirect",
                f"{self.redirect!r} is not an http(s) URL",
                'pass e.g. "https://app.prolific.com/submissions/complete?cc=C1234ERR"',
            )
        if self.redirect and not self.code:
            raise ConfigError(
                "on_error.redirect", "a redirect needs the code it carries", "pass code= as well (the partial code)"
            )
        if len(self.contact) > MAX_CONTACT or "\n" in self.contact:
            raise ConfigError(
                "on_error.contact",
                f"the contact line is {len(self.contact)} characters or spans lines",
                f'pass one line of at most {MAX_CONTACT} characters, e.g. "Write to lab@example.org"',
            )
        if self.code and self.code == completion_code:
            raise ConfigError(
                "on_error.code",
                "it equals the completion code, so a session that ended by an error would look completed",
                "use a partial-completion code of its own",
            )

    def to_manifest(self) -> dict[str, Any]:
        """`flow.on_error` as the browser reads it (the build takes the code out unless the bundle is static-only)."""
        return {"code": self.code or None, "redirect": self.redirect or None, "contact": self.contact}
