"""Completion codes stay with the host: the bundle keeps only whether a code exists and a redirect
template, and the codes go to a host-only file next to the bundle folder (never served).

A static-only bundle (`.hosting(static_only=True)`) has no host to ask, so its codes stay in
manifest.json, where anyone can read them.
"""

from __future__ import annotations

from typing import Any

CODE_PLACEHOLDER = "{code}"
STATIC_ONLY_WARNING = (
    "this bundle is static-only (hosting static_only=True): its completion codes are in manifest.json, "
    "so anyone can read them without taking part"
)


def _template(redirect: str | None, code: str) -> str | None:
    return redirect.replace(code, CODE_PLACEHOLDER) if redirect and code else redirect


def withhold_codes(flow: dict[str, Any], games: dict[str, Any], game: dict[str, Any]) -> dict[str, Any]:
    """Take the codes out of the manifest's `flow`, `games` and base `game` (in place); return what the host keeps:
    `{"completion": {code, redirect} | None, "timeouts": {game key: {code, redirect}}, "error": {code, redirect} | None}`
    (`error`: the partial code of a session that ended by an error, see `Experiment.on_error`)."""
    kept: dict[str, Any] = {"completion": None, "timeouts": {}, "error": None}
    ending = flow.get("on_error")
    if ending:
        code = ending["code"] or ""
        kept["error"] = {"code": code, "redirect": ending["redirect"]} if code else None
        ending.update(code=None, has_code=bool(code), redirect=_template(ending["redirect"], code))
    for scene in flow["scenes"]:
        if scene["kind"] == "completion":
            code = scene["code"] or ""
            kept["completion"] = {"code": code, "redirect": scene["redirect"]} if code else None
            scene.update(code=None, has_code=bool(code), redirect=_template(scene["redirect"], code))
    for key, config in [*games.items(), ("", game)]:
        rules = config.get("multiplayer")
        if not rules:
            continue
        code = rules["timeout_code"]
        if code and key:
            kept["timeouts"][key] = {"code": code, "redirect": rules["timeout_redirect"] or None}
        rules.update(
            timeout_code="",
            has_timeout_code=bool(code),
            timeout_redirect=_template(rules["timeout_redirect"], code) or "",
        )
    return kept
