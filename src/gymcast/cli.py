"""The `gymcast` command line: build, serve, run, export."""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from gymcast.bundler.bundle import BundleError, build_bundle
from gymcast.bundler.slim import SlimError
from gymcast.cli_command import command_line
from gymcast.cli_progress import rich_progress
from gymcast.experiment import ConfigError
from gymcast.experiment.loader import ExperimentNotFound
from gymcast.export import FORMATS, export_jsonl
from gymcast.export.minari import ExportError
from gymcast.manifest import ManifestError, read_manifest
from gymcast.replay import ReplayError
from gymcast.storage import StorageError
from gymcast.wheels import FetchError

DEFAULT_THREADS = 1024
"""Threads per gunicorn worker: each relay player parks one for its whole game, so a worker serves this many players
and requests at once (a parked thread costs little memory; 256 capped one worker at about 250 players)."""

console = Console(stderr=True)
USER_ERRORS = (
    ConfigError,
    ExperimentNotFound,
    FetchError,
    BundleError,
    SlimError,
    FileNotFoundError,
    ExportError,
    ManifestError,
    StorageError,
    ReplayError,
)


class GymcastCommand(click.Command):
    """Shows researcher mistakes as one clear line instead of a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except USER_ERRORS as error:
            console.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False)
            sys.exit(2)


@click.group()
@click.version_option(package_name="gymcast")
def main() -> None:
    """Put a gymnasium environment in front of real people, entirely in their browser."""


@main.command(cls=GymcastCommand)
@click.argument("experiment", type=click.Path(exists=True, path_type=Path))
@click.option(
    "-o",
    "--out",
    type=click.Path(path_type=Path),
    default=Path("bundle"),
    show_default=True,
    help="Folder to write the bundle into.",
)
@click.option(
    "--wheelhouse",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder of wheels to use before the network.",
)
@click.option(
    "--repack",
    is_flag=True,
    help="Ship wheels stored, for smaller .br copies: fewer bytes for slow connections, more work on fast ones.",
)
@click.option(
    "--no-slim",
    is_flag=True,
    help="Ship the whole standard library and wheels as source, without tracing the game's imports in Node.",
)
def build(experiment: Path, out: Path, wheelhouse: Path | None, repack: bool, no_slim: bool) -> None:
    """Build EXPERIMENT (an experiment.py, or a folder holding one) into a static bundle."""
    with rich_progress(console) as progress:
        built = build_bundle(experiment, out, wheelhouse=wheelhouse, progress=progress, repack=repack, slim=not no_slim)
    _warn(built.warnings)
    size = sum(p.stat().st_size for p in built.path.rglob("*") if p.is_file())
    console.print(
        f"bundle written to [bold]{escape(str(built.path))}[/] ({size / 1e6:.1f} MB, build {built.manifest.build_id})"
    )


@main.command(cls=GymcastCommand)
@click.argument("bundle", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--host", default=None, help="Address to listen on (default: the experiment's hosting.host).")
@click.option("--port", type=int, default=None, help="Port (default: the experiment's hosting.port).")
@click.option(
    "--data",
    default="gymcast.sqlite",
    show_default=True,
    help="Where the logs go: a SQLite file, or a PostgreSQL URL postgresql://USER@HOST:PORT/DB.",
)
@click.option(
    "--cors-origin",
    "cors_origins",
    multiple=True,
    help="Let pages from this origin (e.g. https://study.example.org, or *) send logs here; repeatable.",
)
@click.option("--no-compression", is_flag=True, help="Serve files uncompressed (a baseline for benchmarks).")
@click.option("--no-rate-limits", is_flag=True, help="Turn rate limits and quotas off (load tests on loopback only).")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Worker processes (a bundle with networked games needs --redis for more than 1).",
)
@click.option(
    "--redis",
    "redis_url",
    default=None,
    help="Share the relay's waiting rooms and groups through this Redis (redis://HOST:PORT/DB), so players on "
    "different worker processes or machines meet, and count the rate limits there for all of them.",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=DEFAULT_THREADS,
    show_default=True,
    help="Connections per worker at once (a relay player holds one for its whole game).",
)
@click.option(
    "--server",
    "server_kind",
    type=click.Choice(["gunicorn", "development"]),
    default="gunicorn",
    show_default=True,
    help="gunicorn (production), or werkzeug's development server (one process; a baseline for benchmarks).",
)
@click.option("--no-access-log", is_flag=True, help="Do not log each request (benchmarks).")
@click.option(
    "--proxies",
    type=click.IntRange(min=0, max=8),
    default=0,
    show_default=True,
    help="How many proxies (load balancers) stand in front of this host and set X-Forwarded-For/-Proto/-Host: "
    "rate limits then count per participant's address, not per balancer. Leave at 0 when browsers connect "
    "directly, or anyone could pick the address the limits see.",
)
def serve(
    bundle: Path,
    host: str | None,
    port: int | None,
    data: str,
    cors_origins: tuple[str, ...],
    no_compression: bool,
    no_rate_limits: bool,
    workers: int,
    threads: int,
    server_kind: str,
    no_access_log: bool,
    redis_url: str | None,
    proxies: int,
) -> None:
    """Serve BUNDLE and store its participants' logs in --data."""
    _serve(
        bundle,
        host,
        port,
        data,
        list(cors_origins),
        not no_compression,
        not no_rate_limits,
        Serving(server_kind, workers, threads, not no_access_log, redis_url, proxies),
    )


@main.command(cls=GymcastCommand)
@click.argument("experiment", type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--out", type=click.Path(path_type=Path), default=Path("bundle"), show_default=True)
@click.option("--wheelhouse", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--host", default=None)
@click.option("--port", type=int, default=None)
@click.option("--data", default="gymcast.sqlite", show_default=True, help="A SQLite file or a PostgreSQL URL.")
def run(experiment: Path, out: Path, wheelhouse: Path | None, host: str | None, port: int | None, data: str) -> None:
    """Build EXPERIMENT and serve it: `gymcast build` then `gymcast serve`."""
    with rich_progress(console) as progress:
        built = build_bundle(experiment, out, wheelhouse=wheelhouse, progress=progress)
    _warn(built.warnings)
    # Serve from a fresh process image: the build loaded libraries that run threads (onnxruntime, OpenBLAS), and a
    # server worker forked from this process would inherit them half-alive and abort when it exits.
    serve_args = ["serve", "--data", data]
    serve_args += ["--host", host] if host is not None else []
    serve_args += ["--port", str(port)] if port is not None else []
    serve_args += ["--", str(out)]
    sys.stdout.flush()
    sys.stderr.flush()
    command = command_line(*serve_args)
    os.execv(command[0], command)


@main.command(cls=GymcastCommand)
@click.argument("db", callback=lambda _c, _p, value: _existing_data(value))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="jsonl", show_default=True)
@click.option(
    "-o",
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Output file (jsonl: default stdout; csv, parquet: required); for minari, the datasets folder.",
)
@click.option("--session", default=None, help="Only this session id.")
@click.option(
    "--bundle",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The bundle the data came from (minari: observations are rebuilt by replaying it).",
)
@click.option("--dataset-id", default=None, help="Minari dataset id (default: gymcast/<experiment>/human-v0).")
def export(
    db: str, fmt: str, out: Path | None, session: str | None, bundle: Path | None, dataset_id: str | None
) -> None:
    """Export the events logged in DB (a SQLite file or a PostgreSQL URL) as jsonl, csv, parquet or Minari."""
    from gymcast.storage import open_store

    store = open_store(db)
    if fmt == "jsonl":
        with out.open("w") if out else contextlib.nullcontext(sys.stdout) as stream:
            count = export_jsonl(store, stream, session)
        console.print(f"exported {count} events as jsonl")
    elif fmt in ("csv", "parquet"):
        from gymcast.export.tables import export_table

        if out is None:
            raise click.UsageError(f"--format {fmt} needs -o FILE")
        console.print(f"exported {export_table(store, out, fmt, session)} events to {out}")
    else:
        from gymcast.export.minari import export_minari

        if bundle is None:
            raise click.UsageError("--format minari needs --bundle BUNDLE (observations are rebuilt by replay)")
        if out is not None:
            os.environ["MINARI_DATASETS_PATH"] = str(out.resolve())
        dataset_id = dataset_id or f"gymcast/{read_manifest(bundle).name}/human-v0"
        count = export_minari(store, bundle, dataset_id, session)
        console.print(f"wrote Minari dataset {dataset_id} with {count} episodes")


@main.command(cls=GymcastCommand)
@click.argument("db", callback=lambda _c, _p, value: _existing_data(value))
@click.option(
    "--bundle",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The bundle the data came from.",
)
@click.option("--session", default=None, help="Only this session id.")
@click.option(
    "--native",
    is_flag=True,
    help="Replay in this CPython instead of the browser's Pyodide under Node: faster, but set order and float "
    "maths may differ from the browser, so an episode can diverge here only.",
)
@click.option(
    "--check-policies",
    is_flag=True,
    help="Recompute every ONNX player's action with native onnxruntime; each must equal the logged one "
    "(replays natively).",
)
def replay(db: str, bundle: Path, session: str | None, native: bool, check_policies: bool) -> None:
    """Re-run every logged episode from its seed and actions and check every logged state hash.

    Runs in the bundle's own Pyodide under Node, as the browser did (all episodes in one process).
    Exits with status 1 when any episode diverges from its log.
    """
    from rich.table import Table

    from gymcast.replay import logged_episodes, replay_episodes
    from gymcast.storage import open_store

    store = open_store(db)
    build_id = read_manifest(bundle).build_id
    builds = {s.session_id: s.build_id for s in store.iter_sessions()}
    for session_id in sorted({sid for sid, build in builds.items() if build != build_id}):
        console.print(
            f"[yellow]warning:[/] session {escape(session_id)} was recorded with build {builds[session_id]}, "
            f"but {escape(str(bundle))} is build {build_id}"
        )
    episodes = logged_episodes(store.iter_events(session))
    table = Table("session", "run", "game", "episode", "attempt", "steps", "result")
    diverged = 0
    for result in replay_episodes(bundle, episodes, native=native, check_policies=check_policies):
        logged = result.episode
        diverged += result.status == "diverged"
        detail = escape(result.detail)
        text = {
            "match": "[green]match[/]",
            "partial": f"[green]partial[/]: {detail}",
            "incomplete": f"[yellow]incomplete[/]: {detail}",
            "diverged": f"[red]diverged at step {result.step}[/]: {detail}",
            "error": f"[yellow]ended by an error at step {result.step}[/]: {detail}",
        }[result.status]
        table.add_row(
            logged.session_id,
            str(logged.run),
            logged.game,
            str(logged.episode),
            str(logged.attempt),
            str(len(logged.steps)),
            text,
        )
    Console().print(table)
    if diverged:
        console.print(f"[red]{diverged} episode(s) diverged from the log[/]")
        sys.exit(1)


@dataclass(frozen=True)
class Serving:
    """Which server `gymcast serve` runs, with how many worker processes and threads each."""

    kind: str = "gunicorn"
    workers: int = 1
    threads: int = DEFAULT_THREADS
    access_log: bool = True
    redis_url: str | None = None
    proxies: int = 0


def _existing_data(value: str) -> str:
    """`DB` of export and replay: a PostgreSQL URL, or a SQLite file that exists."""
    from gymcast.storage import is_postgres

    if not is_postgres(value) and not Path(value).is_file():
        raise click.BadParameter(f"{value} is not a file (give a SQLite file or a postgresql:// URL)", param_hint="DB")
    return value


def _check_redis(url: str) -> None:
    """Fail at start, with a clear message, when --redis is not a Redis that answers."""
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=5).ping()
    except (ValueError, redis.RedisError) as error:
        raise click.BadParameter(f"no Redis answers there: {error}", param_hint="--redis") from None


def _warn(warnings: tuple[str, ...]) -> None:
    for warning in warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)


@main.command("admin-token", cls=GymcastCommand)
@click.option(
    "--data",
    default="gymcast.sqlite",
    show_default=True,
    help="The SQLite file or PostgreSQL URL `gymcast serve --data` uses.",
)
@click.option(
    "--rotate", is_flag=True, help="Replace the token: the old one and every login made with it stop working."
)
def admin_token(data: str, rotate: bool) -> None:
    """Print the dashboard's admin token (made on first use), or replace it with --rotate."""
    from gymcast.storage import open_store

    token, created = open_store(data).admin_token(rotate=rotate)
    click.echo(token)
    if rotate:
        console.print("the admin token was replaced; earlier logins no longer work")
    elif created:
        console.print(f"a new admin token was made for {escape(str(data))}")


def _serve(
    bundle: Path,
    host: str | None,
    port: int | None,
    data: str,
    cors_origins: list[str] | None = None,
    precompressed: bool = True,
    rate_limits: bool = True,
    serving: Serving | None = None,
) -> None:
    from gymcast.bundle_files import host_file
    from gymcast.relay.rules import networked_games
    from gymcast.server import create_app
    from gymcast.server.bundle import BundleReader
    from gymcast.server.limits import Limits
    from gymcast.storage import is_postgres, open_store

    serving = serving or Serving()

    if not is_postgres(data) and Path(data).resolve().is_relative_to(bundle.resolve()):
        raise click.BadParameter(
            f"{data} is inside the bundle folder {bundle}; keep the logs outside it, e.g. --data ../gymcast.sqlite",
            param_hint="--data",
        )
    hosting = read_manifest(bundle).hosting
    host = host or hosting.get("host", "127.0.0.1")
    port = port if port is not None else hosting.get("port", 5702)
    current = BundleReader(bundle).current()
    if serving.workers > 1 and networked_games(current.relay) and not serving.redis_url:
        raise click.BadParameter(
            "this bundle has networked games, and without --redis the relay keeps its waiting room and groups in "
            "one process: players on different workers could not meet. Use --workers 1, or share them through "
            "Redis with --redis redis://HOST:PORT/0",
            param_hint="--workers",
        )
    if serving.redis_url:
        _check_redis(serving.redis_url)
    if serving.workers > 1 and serving.kind == "development":
        raise click.BadParameter("the development server runs one process", param_hint="--workers")
    store = open_store(data)
    store.host_secret()  # fails here, with a clear message, rather than in every worker
    token, created = store.admin_token()

    def make_app():
        return create_app(
            bundle,
            open_store(data),
            cors_origins,
            precompressed,
            Limits() if rate_limits else None,
            serving.redis_url,
            serving.proxies,
        )

    missing = current.missing_codes
    if missing:
        _warn(
            (
                f"this host does not know the codes for {', '.join(missing)}: copy {host_file(bundle)} next to the bundle",
            )
        )
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    if is_postgres(data):
        from gymcast.storage.postgres import redacted

        data = redacted(data)
    console.print(f"serving [bold]{escape(str(bundle))}[/], logging to [bold]{escape(data)}[/]")
    console.print(
        f"open [bold link=http://{shown}:{port}/]http://{shown}:{port}/[/]  (Ctrl+C to stop)", highlight=False
    )
    if created:  # printed once, on the first start of this database
        link = f"http://{shown}:{port}/admin/login#token={token}"
        console.print(f"researcher dashboard (this link logs you in; keep it private): {link}", highlight=False)
    else:
        console.print(
            f"researcher dashboard: http://{shown}:{port}/admin/  (`gymcast admin-token --data {data}` prints the token)",
            highlight=False,
        )
    if serving.kind == "development":
        from gymcast.server.serving import serve_app

        serve_app(make_app(), host, port, serving.access_log)
    else:
        from gymcast.server.production import serve_production

        serve_production(make_app, host, port, serving.workers, serving.threads, serving.access_log)


if __name__ == "__main__":
    main()
