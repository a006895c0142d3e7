"""Mutation check: break each guarded behaviour in a scratch copy of the repository and show that its test fails.

    .venv/bin/python tests/mutation_check.py                 # every mutation
    .venv/bin/python tests/mutation_check.py relay-visible   # only the named ones
    .venv/bin/python tests/mutation_check.py --list

Each mutation finds its target by a regular expression in the files it names (not by line number), so it keeps
working while the code around it moves; a pattern that no longer matches exactly once stops the run with an error
naming the pattern and the files. The copy's tests import the copy's `src/` (PYTHONPATH), so nothing is installed.
Tests that launch Chromium or Node hold the shared lock /tmp/gymcast-chromium.lock while they run.
Not collected by pytest (the file name does not start with test_); the lead runs it by hand.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COPIED = ("src", "tests", "examples", "pyproject.toml")
LOCK = Path("/tmp/gymcast-chromium.lock")
HEAVY = ("_chromium.py", "test_bench_startup.py", "test_cli_run.py", "_node.py", "test_slim.py")


@dataclass(frozen=True)
class Mutation:
    """Replace `pattern` (a regex that must match exactly once in the files `where` globs) by `replacement`."""

    name: str
    guards: str
    where: str
    pattern: str
    replacement: str
    tests: tuple[str, ...]


MUTATIONS = (
    Mutation(
        "relay-visible",
        "the relay matches only visible waiters",
        "src/gymcast/relay/**/*.py",
        r"\b\w+\.visible and ",
        "",
        ("tests/test_relay.py::test_hidden_players_wait_until_visible",),
    ),
    Mutation(
        "assignment-completed-only",
        "balanced assignment counts completed or active sessions",
        "src/gymcast/storage/sqlite.py",  # the SQLite dialect's count (the tests' default storage)
        r"\b(?:created_at|counted_at) >= \?",  # the window that keeps unfinished sessions counted
        "? IS NULL",
        ("tests/test_assignment.py", "tests/test_assignment_rules.py"),
    ),
    Mutation(
        "assignment-unbalanced",
        "balanced assignment picks a condition with the fewest",
        "src/gymcast/server/**/*.py",
        r"if count == fewest\b",
        "if True",
        ("tests/test_assignment.py", "tests/test_assignment_rules.py"),
    ),
    Mutation(
        "assignment-no-expiry",
        "an unfinished session stops counting after the active window",
        "src/gymcast/storage/sqlite.py",  # the SQLite dialect's count (the tests' default storage)
        r"\b(?:created_at|counted_at) >= \?",
        "? IS NOT NULL",
        ("tests/test_assignment_rules.py",),
    ),
    Mutation(
        "durability",
        "an acknowledged event is on disk",
        "src/gymcast/storage/**/*.py",
        r"(INSERT (?:OR IGNORE )?INTO events VALUES \([?, ]+\)\", \w+)\)",  # write all but the last, ack all
        r"\1[:-1])",
        ("tests/test_durability.py",),
    ),
    Mutation(
        "replay-divergence",
        "replay reports the first step whose hash, reward or flags differ",
        "src/gymcast_runtime/replay.py",
        r"problem = difference\(record, logged\)",
        'problem = ""',
        ("tests/test_replay_and_export.py::test_a_corrupted_action_is_reported_at_its_step",),
    ),
    Mutation(
        "desync-detection",
        "the relay notices browsers whose state hashes differ",
        "src/gymcast/relay/**/*.py",
        r"len\(set\(\w+\.values\(\)\)\) <= 1",
        "True",
        ("tests/test_netplay_chromium.py::test_a_desync_is_detected_repaired_and_logged",),
    ),
    Mutation(
        "ai-parity",
        "replay --check-policies compares native AI actions with the logged ones",
        "src/gymcast_runtime/replay.py",
        r"if record\[\"actions\"\] != logged\[\"actions\"\]:",
        "if False:",
        ("tests/test_ai_chromium.py::test_a_flipped_ai_action_is_caught_by_the_policy_check",),
    ),
    Mutation(
        "ai-seeding",
        "ONNX sampling in episode k draws from the RNG seeded with (seed, k), in the browser",
        "src/gymcast_runtime/policies.py",
        r"default_rng\(\[self\.spec\.get\(\"seed\", 0\), episode\]\)",
        'default_rng([self.spec.get("seed", 0), 0])',
        ("tests/test_ai_chromium.py::test_sampled_ai_actions_follow_the_seed_and_the_episode",),
    ),
    Mutation(
        "ai-seeding-native",
        "ONNX sampling in episode k draws from the RNG seeded with (seed, k), natively",
        "src/gymcast_runtime/policies.py",
        r"default_rng\(\[self\.spec\.get\(\"seed\", 0\), episode\]\)",
        'default_rng(self.spec.get("seed", 0) + episode)',
        ("tests/test_policies_native.py::test_sampling_is_seeded_per_episode",),
    ),
    Mutation(
        "warm-up-rng",
        "the warm-up leaves the global RNG states as it found them",
        "src/gymcast_runtime/loading.py",
        r"random\.setstate\(saved\[0\]\)\s+np\.random\.set_state\(saved\[1\]\)",
        "pass",
        ("tests/test_smoothness_chromium.py::test_the_game_warms_up_before_start_and_plays_the_same_either_way",),
    ),
    Mutation(
        "reload-replays-cut-episode",
        "a game episode cut off by a reload is played again",
        "src/gymcast/browser_runtime/js/*.js",
        r"event\.type === \"episode_end\" && !event\.restarted\) \{\s*progress\.update\(\{ episodes_done",
        'event.type === "episode_start") { progress.update({ episodes_done',
        ("tests/test_outbox_chromium.py::test_a_reload_sends_what_the_previous_page_could_not",),
    ),
    Mutation(
        "step-logged-once",
        "every step is logged once, numbered 1..k within a run",
        "src/gymcast/browser_runtime/js/**/*.js",
        r"actions: input\.actions, \.\.\.result,",
        "actions: input.actions, ...result, step: result.step === 3 ? 2 : result.step,",
        ("tests/test_study_chromium.py::test_reloads_mid_game_and_mid_survey_resume_without_loss",),
    ),
    Mutation(
        "object-short-turn",
        "object rendering turns the short way round",
        "src/gymcast/browser_runtime/js/objects.js",
        r"\(\(to\.angle - from\.angle \+ 540\) % 360\) - 180",
        "to.angle - from.angle",
        ("tests/test_browser_modules_node.py",),
    ),
    Mutation(
        "crash-error-page",
        "the study's code raising in play shows the error page with the host-issued partial code",
        "src/gymcast/browser_runtime/js/worker.js",
        r"post\(\{ type: \"crash\", \.\.\.crashText\(error\), \.\.\.place \}\)",
        'post({ type: "error", message: crashText(error).message })',
        ("tests/test_crash_chromium.py::test_an_env_error_in_play_ends_the_study_with_its_partial_code",),
    ),
    Mutation(
        "warm-up-before-start",
        "Start is offered only after every game's first warm-up step, so an env that fails there stops the page first",
        "src/gymcast/browser_runtime/js/boot.js",
        r"await Promise\.race\(\[bridge\.warmed, sleep\(WARM_UP_WAIT_MS\)\]\);",
        "",
        ("tests/test_crash_chromium.py::test_a_warm_up_error_stops_the_page_before_start",),
    ),
    Mutation(
        "error-acknowledged",
        "the error page says whether the host acknowledged the error event",
        "src/gymcast/browser_runtime/js/boot.js",
        r"const stored = outbox\.acknowledged\(ended\.seq\);",
        "const stored = true;",
        ("tests/test_crash_chromium.py::test_an_unreachable_host_is_said_and_the_error_waits_in_the_browser",),
    ),
    Mutation(
        "error-code-needs-error",
        "the host issues the partial error code only once the session's error event is stored",
        "src/gymcast/server/logs.py",
        r"if not errored:",
        "if False:",
        (
            "tests/test_completion_codes.py::"
            "test_the_error_code_is_issued_once_an_error_is_stored_and_never_with_the_completion_code",
        ),
    ),
    Mutation(
        "trace-adds-pygame",
        "a trace that stops at an import the distribution provides (pygame: pygame-ce) makes the build ship it",
        "src/gymcast/bundler/bundle.py",
        r"key = official\.provider\(missing\.module\)",
        "key = None",
        (
            "tests/test_pygame_envs.py::test_an_env_module_that_imports_pygame_at_its_top_gets_pygame_ce",
            "tests/test_official_packages.py::test_an_official_package_the_env_imports_ships_without_being_listed",
        ),
    ),
)


def copy_repo(target: Path) -> None:
    for name in COPIED:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(source, target / name)


def apply(mutation: Mutation, root: Path) -> str:
    """Apply the mutation in the copy at `root`; return the file it changed. Exits when the pattern is not unique."""
    files = sorted(p for p in root.glob(mutation.where) if p.is_file())
    hits = [(path, len(re.findall(mutation.pattern, path.read_text()))) for path in files]
    found = [(path, count) for path, count in hits if count]
    if sum(count for _, count in found) != 1:
        where = ", ".join(f"{p.relative_to(root)} ({c}x)" for p, c in found) or f"none of {len(files)} files"
        sys.exit(
            f"mutation {mutation.name}: the pattern {mutation.pattern!r} must match exactly once in "
            f"{mutation.where}, found: {where}. The guarded code changed; update the pattern in {Path(__file__).name}."
        )
    path = found[0][0]
    path.write_text(re.sub(mutation.pattern, mutation.replacement, path.read_text(), count=1))
    return str(path.relative_to(root))


@contextmanager
def lock_if_heavy(tests: tuple[str, ...]) -> Iterator[None]:
    if not any(marker in test.split("::")[0] for test in tests for marker in HEAVY):
        yield
        return
    with LOCK.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_tests(root: Path, tests: tuple[str, ...], timeout_s: int) -> tuple[int, str]:
    """pytest in the copy, importing the copy's src; (exit code, last lines of output)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "src"), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    with lock_if_heavy(tests):
        try:
            done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return -1, f"timed out after {timeout_s} s"
    return done.returncode, "\n".join((done.stdout + done.stderr).strip().splitlines()[-3:])


def check_imports_copy(root: Path) -> None:
    """The copy's tests must import the copy's package, not the installed one."""
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    for package in ("gymcast", "gymcast_runtime"):
        where = subprocess.run(
            [sys.executable, "-c", f"import {package}; print({package}.__file__)"],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if not where.startswith(str(root)):
            sys.exit(f"the scratch copy imports {package} from {where}, not from {root}/src")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="mutations to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument("--dry-run", action="store_true", help="only check that every pattern matches once")
    parser.add_argument("--timeout", type=int, default=1200, help="seconds per mutation's test run")
    args = parser.parse_args()
    if args.list:
        for m in MUTATIONS:
            print(f"{m.name:28} {m.guards}\n{'':28} {m.where}: /{m.pattern}/ -> {m.replacement!r}")
        return
    unknown = set(args.names) - {m.name for m in MUTATIONS}
    if unknown:
        sys.exit(f"unknown mutation(s) {sorted(unknown)}; see --list")
    chosen = [m for m in MUTATIONS if not args.names or m.name in args.names]
    rows = []
    for mutation in chosen:
        with tempfile.TemporaryDirectory(prefix=f"mutation-{mutation.name}-") as scratch:
            root = Path(scratch)
            copy_repo(root)
            check_imports_copy(root)
            changed = apply(mutation, root)
            if args.dry_run:
                print(f"{mutation.name}: pattern found in {changed}")
                continue
            started = time.monotonic()
            code, tail = run_tests(root, mutation.tests, args.timeout)
        verdict = {1: "caught", 0: "MISSED"}.get(code, f"ERROR (pytest exit {code})")
        rows.append((mutation, verdict, time.monotonic() - started))
        print(f"{mutation.name}: {verdict} ({changed}; {time.monotonic() - started:.0f} s)\n    {tail}", flush=True)
    if args.dry_run:
        return
    print("\n| mutation | breaks | test | result |\n|---|---|---|---|")
    for mutation, verdict, _ in rows:
        tests = "<br>".join(f"`{t.removeprefix('tests/')}`" for t in mutation.tests)
        print(f"| {mutation.name} | {mutation.guards} | {tests} | {verdict} |")
    if any(verdict != "caught" for _, verdict, _ in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
