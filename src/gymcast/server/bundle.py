"""The bundle a host serves, as the host reads it: which files it may serve and the study's rules.

The manifest is parsed once per version of the bundle (`BundleReader`), and every read of its fields on the
host side goes through `served_from`, so the manifest's layout is known in one place. Nothing here comes from a request: the host decides the study's
parameters from the bundle it serves.
"""

from __future__ import annotations

import copy
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gymcast.bundle_files import ENTRY_FILES, host_file
from gymcast.manifest import BundleManifest, read_manifest


@dataclass(frozen=True)
class CompletionCode:
    """A code the host hands out once it stored a completion, and the redirect that carries it."""

    code: str
    redirect: str | None = None


@dataclass(frozen=True)
class StudyRules:
    """What the host decides for every session of the bundle it serves."""

    experiment: str
    build_id: str
    conditions: tuple[str, ...] = ()
    assignment: str = "balanced"
    allow_repeat: bool = True


@dataclass(frozen=True)
class ServedBundle:
    """A bundle folder as the host serves it."""

    root: Path
    manifest: BundleManifest
    files: frozenset[str]
    rules: StudyRules
    log_url: str = ""
    completion: CompletionCode | None = None
    #: game key -> the partial code shown when no partner came (on_timeout "end").
    timeout_codes: dict[str, CompletionCode] = field(default_factory=dict)
    #: the manifest as the relay reads it: each game's timeout code (host-only) put back in its rules
    relay: dict[str, Any] = field(default_factory=dict)
    #: codes the bundle says exist but this host does not know (its host-only file is missing)
    missing_codes: tuple[str, ...] = ()
    #: the partial code of a session that ended by an error (`Experiment.on_error`)
    error_code: CompletionCode | None = None


def read_served(bundle: Path) -> ServedBundle:
    """The served bundle folder: its manifest, plus the codes of its host-only file."""
    root = bundle.resolve()
    return served_from(root, read_manifest(root))


def served_from(root: Path, parsed: BundleManifest) -> ServedBundle:
    """The one place the host reads the manifest's fields: its file list, study rules and codes."""
    manifest = parsed.to_json()
    flow = parsed.flow or {}
    game = parsed.game or {}
    rules = StudyRules(
        experiment=str(game.get("name") or root.name)[:64],
        build_id=str(parsed.build_id or "unbuilt")[:64],
        conditions=tuple(flow.get("conditions") or ()),
        assignment=flow.get("assignment", "balanced"),
        allow_repeat=bool(flow.get("allow_repeat", True)),
    )
    files = frozenset(parsed.files) | frozenset(ENTRY_FILES)
    completion, timeouts, error_code = _host_codes(root, manifest)
    relay = copy.deepcopy(manifest)
    for key, config in (relay.get("games") or {}).items():
        if key in timeouts and config.get("multiplayer"):
            code = timeouts[key]
            config["multiplayer"].update(timeout_code=code.code, timeout_redirect=code.redirect or "")
    missing = [
        *(
            ["completion"]
            if completion is None and any(scene.get("has_code") for scene in flow.get("scenes") or [])
            else []
        ),
        *(
            f"timeout of {key}"
            for key, config in (parsed.games or {}).items()
            if (config.get("multiplayer") or {}).get("has_timeout_code") and key not in timeouts
        ),
        *(["error"] if error_code is None and (flow.get("on_error") or {}).get("has_code") else []),
    ]
    return ServedBundle(
        root,
        parsed,
        files,
        rules,
        str(game.get("log_url") or ""),
        completion,
        timeouts,
        relay,
        tuple(missing),
        error_code,
    )


def _host_codes(
    root: Path, manifest: dict[str, Any]
) -> tuple[CompletionCode | None, dict[str, CompletionCode], CompletionCode | None]:
    """Codes from the host-only file (completion, timeouts, error); a static-only bundle's public codes from its
    manifest."""
    path = host_file(root)
    secrets = json.loads(path.read_text()) if path.is_file() else {}
    if secrets and secrets.get("build_id") != manifest.get("build_id"):
        secrets = {}  # written for another build of this folder: its codes do not apply
    completion = _code(secrets.get("completion"))
    timeouts = {key: code for key, entry in (secrets.get("timeouts") or {}).items() if (code := _code(entry))}
    scenes = (manifest.get("flow") or {}).get("scenes") or []
    last = scenes[-1] if scenes else {}
    if completion is None and last.get("kind") == "completion" and last.get("code"):
        completion = CompletionCode(last["code"], last.get("redirect"))  # static-only: the code is public
    for key, game in (manifest.get("games") or {}).items():
        rules = game.get("multiplayer") or {}
        if key not in timeouts and rules.get("timeout_code"):
            timeouts[key] = CompletionCode(rules["timeout_code"], rules.get("timeout_redirect") or None)
    error_code = _code(secrets.get("error")) or _code((manifest.get("flow") or {}).get("on_error"))
    return completion, timeouts, error_code


def _code(entry: dict[str, Any] | None) -> CompletionCode | None:
    return CompletionCode(entry["code"], entry.get("redirect") or None) if entry and entry.get("code") else None


class BundleReader:
    """`read_served` of one folder, read again only when its manifest.json changes (a rebuild in place)."""

    def __init__(self, bundle: Path) -> None:
        self.path = bundle.resolve() / "manifest.json"
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._served: ServedBundle | None = None

    def current(self) -> ServedBundle:
        """The bundle as its manifest is now."""
        stat = self.path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if self._served is None or stamp != self._stamp:
                self._served, self._stamp = read_served(self.path.parent), stamp
            return self._served
