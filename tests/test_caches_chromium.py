"""The browser's caches recover and stay small: a Python snapshot that fails to load is dropped and Python starts
afresh, and the service worker drops an older build's files once a newer build has booted."""

from __future__ import annotations

import json

from conftest import HostProcess, wait_for
from gymcast.testing import free_port

SNAPSHOTS = "gymcast-python-snapshots"
IMMUTABLE = "gymcast-immutable"
CACHE_KEYS = "async (name) => (await (await caches.open(name)).keys()).map((request) => request.url)"
#: keeps the first half of each saved snapshot, like a write cut short
SPOIL = """async (name) => {
  const cache = await caches.open(name);
  for (const request of await cache.keys()) {
    const bytes = new Uint8Array(await (await cache.match(request)).arrayBuffer());
    await cache.put(request, new Response(bytes.slice(0, bytes.length >> 1)));
  }
}"""
CACHE_BYTES = """async (name) => {
  const cache = await caches.open(name);
  return Promise.all((await cache.keys()).map(async (r) => (await (await cache.match(r)).arrayBuffer()).byteLength));
}"""


def test_a_snapshot_that_fails_to_load_is_dropped_and_python_starts_afresh(browser, cartpole_bundle, tmp_path):
    context = browser.new_context(service_workers="block")
    with HostProcess(cartpole_bundle, tmp_path / "logs.sqlite") as host:
        page = context.new_page()
        page.goto(f"{host.url}/?PROLIFIC_PID=spoiled")
        assert wait_for(page, "s.phase === 'ready'", 90)["python_snapshot"] == "made"
        page.wait_for_function(f"() => ({CACHE_KEYS})('{SNAPSHOTS}').then((keys) => keys.length > 0)")
        half = page.evaluate(CACHE_BYTES, SNAPSHOTS)[0] // 2
        page.evaluate(SPOIL, SNAPSHOTS)  # the saved snapshot is now cut short
        page.reload()
        status = wait_for(page, "s.phase === 'ready' || s.phase === 'error'", 30)
        assert status["phase"] == "ready" and status["python_snapshot"] == "made", status  # not "used"
        page.click("#start")
        wait_for(page, "s.phase === 'done'", 90)
        page.wait_for_function(
            f"() => ({CACHE_BYTES})('{SNAPSHOTS}').then((sizes) => sizes.length === 1 && sizes[0] > {half})"
        )  # the cut one was replaced by a whole, fresh snapshot
    context.close()


def build_urls(bundle, url: str) -> set[str]:
    """The URLs of a build's own files (its manifest's `files`)."""
    return {f"{url}/{path}" for path in json.loads((bundle / "manifest.json").read_text())["files"]}


def test_the_service_worker_drops_an_older_builds_files(browser, cartpole_bundle, global_rng_bundle, tmp_path):
    port = free_port()
    context = browser.new_context()
    page = context.new_page()
    kept = {}
    for name, bundle in (("old", cartpole_bundle), ("new", global_rng_bundle)):  # two builds, one origin
        with HostProcess(bundle, tmp_path / f"{name}.sqlite", port=port) as host:
            page.goto(f"{host.url}/?PROLIFIC_PID=sw")
            wait_for(page, "s.offline_ready", 90)
            kept[name] = set(page.evaluate(CACHE_KEYS, IMMUTABLE))
    context.close()
    new_files = build_urls(global_rng_bundle, host.url)
    assert kept["old"] - new_files  # the old build cached files the new build does not have
    assert kept["new"] and kept["new"] <= new_files, kept["new"] - new_files  # those are gone now
