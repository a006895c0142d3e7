"""The `gymcast` command line: build, serve, run, export."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from gymcast.bundler.bundle import BundleError, build_bundle
from gymcast.bundler.slim import SlimError
from gymcast.cli_progress import rich_progress
from gymcast.experiment import ConfigError
from gymcast.experiment.loader import ExperimentNotFound
from gymcast.export import FORMATS, export_jsonl
from gymcast.export.minari import ExportError
from gymcast.manifest import ManifestError, read_manifest
from gymcast.replay import ReplayError
from gymcast.storage import StorageError
from gymcast.wheels import FetchError

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
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("gymcast.sqlite"),
    show_default=True,
    help="SQLite file for the logs.",
)
@click.option(
    "--cors-origin",
    "cors_origins",
    multiple=True,
    help="Let pages from this origin (e.g. https://study.example.org, or *) send logs here; repeatable.",
)
@click.option("--no-compression", is_flag=True, help="Serve files uncompressed (a baseline for benchmarks).")
@click.option("--no-rate-limits", is_flag=True, help="Turn rate limits and quotas off (load tests on loopback only).")
def serve(
    bundle: Path,
    host: str | None,
    port: int | None,
    data: Path,
    cors_origins: tuple[str, ...],
    no_compression: bool,
    no_rate_limits: bool,
) -> None:
    """Serve BUNDLE and store its participants' logs in --data."""
    _serve(bundle, host, port, data, list(cors_origins), not no_compression, not no_rate_limits)


@main.command(cls=GymcastCommand)
@click.argument("experiment", type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--out", type=click.Path(path_type=Path), default=Path("bundle"), show_default=True)
@click.option("--wheelhouse", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--host", default=None)
@click.option("--port", type=int, default=None)
@click.option(
    "--data", type=click.Path(dir_okay=False, path_type=Path), default=Path("gymcast.sqlite"), show_default=True
)
def run(experiment: Path, out: Path, wheelhouse: Path | None, host: str | None, port: int | None, data: Path) -> None:
    """Build EXPERIMENT and serve it: `gymcast build` then `gymcast serve`."""
    with rich_progress(console) as progress:
        built = build_bundle(experiment, out, wheelhouse=wheelhouse, progress=progress)
    _warn(built.warnings)
    _serve(out, host, port, data)


@main.command(cls=GymcastCommand)
@click.argument("db", type=click.Path(exists=True, dir_okay=False, path_type=Path))
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
    db: Path, fmt: str, out: Path | None, session: str | None, bundle: Path | None, dataset_id: str | None
) -> None:
    """Export the events logged in DB as jsonl, csv, parquet or a Minari dataset."""
    from gymcast.storage import SQLiteEventStore

    store = SQLiteEventStore(db)
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
@click.argument("db", type=click.Path(exists=True, dir_okay=False, path_type=Path))
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
def replay(db: Path, bundle: Path, session: str | None, native: bool, check_policies: bool) -> None:
    """Re-run every logged episode from its seed and actions and check every logged state hash.

    Runs in the bundle's own Pyodide under Node, as the browser did (all episodes in one process).
    Exits with status 1 when any episode diverges from its log.
    """
    from rich.table import Table

    from gymcast.replay import logged_episodes, replay_episodes
    from gymcast.storage import SQLiteEventStore

    store = SQLiteEventStore(db)
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


def _warn(warnings: tuple[str, ...]) -> None:
    for warning in warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)


@main.command("admin-token", cls=GymcastCommand)
@click.option(
    "--data",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("gymcast.sqlite"),
    show_default=True,
    help="The SQLite file `gymcast serve --data` uses.",
)
@click.option(
    "--rotate", is_flag=True, help="Replace the token: the old one and every login made with it stop working."
)
def admin_token(data: Path, rotate: bool) -> None:
    """Print the dashboard's admin token (made on first use), or replace it with --rotate."""
    from gymcast.storage import SQLiteEventStore

    token, created = SQLiteEventStore(data).admin_token(rotate=rotate)
    click.echo(token)
    if rotate:
        console.print("the admin token was replaced; earlier logins no longer work")
    elif created:
        console.print(f"a new admin token was made for {escape(str(data))}")


def _serve(
    bundle: Path,
    host: str | None,
    port: int | None,
    data: Path,
    cors_origins: list[str] | None = None,
    precompressed: bool = True,
    rate_limits: bool = True,
) -> None:
    from gymcast.bundle_files import host_file
    from gymcast.server import create_app
    from gymcast.server.limits import Limits
    from gymcast.server.serving import serve_app
    from gymcast.storage import SQLiteEventStore

    if data.resolve().is_relative_to(bundle.resolve()):
        raise click.BadParameter(
            f"{data} is inside the bundle folder {bundle}; keep the logs outside it, e.g. --data ../gymcast.sqlite",
            param_hint="--data",
        )
    hosting = read_manifest(bundle).hosting
    host = host or hosting.get("host", "127.0.0.1")
    port = port if port is not None else hosting.get("port", 5702)
    store = SQLiteEventStore(data)
    token, created = store.admin_token()
    app = create_app(bundle, store, cors_origins, precompressed, Limits() if rate_limits else None)
    missing = app.extensions["gymcast.bundle"].current().missing_codes
    if missing:
        _warn(
            (
                f"this host does not know the codes for {', '.join(missing)}: copy {host_file(bundle)} next to the bundle",
            )
        )
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    console.print(f"serving [bold]{bundle}[/], logging to [bold]{data}[/]")
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
    serve_app(app, host, port)


if __name__ == "__main__":
    main()
