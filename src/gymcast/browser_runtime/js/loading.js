// @ts-check
// Loading the worker: Pyodide (restored from the snapshot after the imports when this build has one,
// else from its start-up snapshot when saved), the wheels, onnxruntime-web and
// the models, the finder for modules a slim bundle left out, the games' modules; then, while the
// participant reads the Start screen, a warm-up of every game.

import { pythonFiles, wheelFiles } from "./bundle_files.js";
import { Games } from "./games.js";
import { Policies } from "./policies.js";
import { findSnapshot, forgetSnapshots, restoreSnapshot } from "./import_snapshot.js";
import { startPython } from "./python_snapshot.js";
import { round } from "./timing.js";

const WARM_UP_STEPS = 30; // per game, played on a throwaway env before Start (see warmUp)

/** @typedef {import("./protocol.js").PageChannel} PageChannel */
/** @typedef {import("./protocol.js").PythonBoot} PythonBoot */
/** @typedef {"finished" | "stopped" | "failed"} WarmUpEnd how a warm-up ended: played to its end, cut short by a Start, or raised */

/**
 * What loading gives the runs: the games' Python side, the ONNX policies (null without ONNX players),
 * and the manifest's contracts (schema versions, the seed bound).
 * @typedef {object} Loaded
 * @property {Games} games
 * @property {Policies | null} policies
 * @property {{log_schema: number, relay_schema: number, manifest_schema: number, max_base_seed: number, log_flush_ms: number, log_batch_events: number, log_batch_chars: number}} contracts
 * @property {any} pyodide
 * @property {PythonBoot} boot how Python started (restored from the snapshot after the imports, or afresh, and why)
 */

/**
 * Load everything `manifest` names, reporting progress; answers once `ready` is posted.
 * @param {any} manifest @param {string} baseUrl @param {PageChannel} page @returns {Promise<Loaded>}
 */
export async function load(manifest, baseUrl, page) {
  const initStarted = performance.now();
  /** @type {Record<string, number>} loading stage -> ms */
  const bootTimes = {};
  const stage = timedStage(bootTimes);
  const url = (/** @type {string} */ path) => new URL(path, baseUrl).href;
  const options = pyodideOptions(manifest, baseUrl);
  page.progress(0.02, "Loading Python…");
  const saved = await findSnapshot(options.indexURL, manifest.build_id); // a warm visit: Python after the imports
  const policiesReady = manifest.ort
    ? stage("policies", `loading the AI policies (onnxruntime-web ${manifest.ort.version})`, () => Policies.load(manifest, url))
    : Promise.resolve(null);
  /** @type {PythonBoot} */
  const boot = { path: "fresh", why: saved ? null : "no snapshot saved for this build" };
  let started = null;
  if (saved) {
    try {
      started = { pyodide: await stage("python", "restoring Python's snapshot", () => restoreSnapshot(saved, options)), snapshot: "used" };
      boot.path = "restored";
    } catch (error) {
      boot.why = `the snapshot did not restore: ${String(error?.message ?? error).slice(0, 500)}`;
      console.warn(`gymcast: ${boot.why}; starting afresh`);
      await forgetSnapshots();
    }
  }
  // Python's own files first (starting Python waits for them; the page started them already on a first
  // visit), then the wheels while Python starts: a shared link then brings Python's files in sooner. Both
  // land in the HTTP cache, where Pyodide and loadPackage find them (a request for a file still on its way
  // waits for it). A restore prefetches nothing: it brings the installed files, and Pyodide fetches its own.
  const listed = (/** @type {[string, any][]} */ entries) => entries.map(([path, file]) => ({ url: url(path), size: file.size }));
  const downloads = started ? null : stage("download", "downloading Python and the packages", () =>
    prefetch([listed(pythonFiles(manifest)), listed(wheelFiles(manifest))], page));
  started ??= await stage("python", `starting Python (Pyodide ${manifest.pyodide.version} from ${options.indexURL}, lock ${options.lockFileURL})`,
    async () => startPython((await import(options.indexURL + "pyodide.mjs")).loadPyodide, options));
  const pyodide = started.pyodide;
  await downloads;
  const policies = await policiesReady;
  if (boot.path === "fresh") {
    page.progress(0.9, "Installing packages…");
    await stage("install", "installing the Python packages", () => installPackages(pyodide, manifest.packages));
  }
  installPrunedFinder(pyodide, manifest, url, page);
  page.progress(0.97, "Starting the environment…");
  // Import the heavy modules now, while the participant reads, so Start shows a frame at once
  // (after a restore they are imported already, and their files are in place).
  await stage("import", "importing the environment", async () => preloadModules(pyodide, manifest));
  page.progress(1, "Ready");
  bootTimes.total = round(performance.now() - initStarted);
  page.ready(bootTimes, started.snapshot, boot);
  return { games: new Games(pyodide), policies, contracts: manifest.contracts, pyodide, boot };
}

/** loadPyodide's options for `manifest`'s Pyodide (the same for every boot path: the snapshots depend on it). */
export function pyodideOptions(/** @type {any} */ manifest, /** @type {string} */ baseUrl) {
  return {
    indexURL: new URL(manifest.pyodide.index_url, baseUrl).href,
    lockFileURL: new URL(manifest.pyodide.lock_url, baseUrl).href,
    env: { PYTHONHASHSEED: "0" },
    stdout: (/** @type {string} */ line) => console.log(line), stderr: (/** @type {string} */ line) => console.warn(line),
  };
}

/** loadPackage for `packages`, failing with Pyodide's messages. */
export async function installPackages(/** @type {any} */ pyodide, /** @type {string[]} */ packages) {
  /** @type {string[]} */
  const errors = [];
  await pyodide.loadPackage(packages, { messageCallback: () => {}, errorCallback: (/** @type {string} */ m) => errors.push(m) });
  if (errors.length) throw new Error(errors.join("\n"));
}

/** Import numpy, gymnasium, and every module the games name (env creators, drawing functions). */
export function preloadModules(/** @type {any} */ pyodide, /** @type {any} */ manifest) {
  const refs = Object.values(manifest.games).flatMap((config) =>
    [config.env.creator, config.rendering.frame_fn, config.rendering.objects_fn].filter(Boolean));
  const modules = pyodide.toPy([...new Set(refs.map((ref) => ref.split(":")[0]))]);
  const loading = pyodide.pyimport("gymcast_runtime.loading");
  try {
    loading.preload(modules);
  } finally {
    modules.destroy();
    loading.destroy();
  }
}

/**
 * After loading, make each game's WorkerGame, then play each game briefly on a throwaway env, models included, so
 * the first real steps are not late: V8 tiers up the wasm they use, Python fills its caches. The games take turns;
 * once each has played its first step, the page may offer Start (`playable`; it waits up to WARM_UP_WAIT_MS in
 * boot.js), and the warm-up goes on while the participant reads. One piece per task, so a Start is handled at once
 * (see `stop`); logs a `warm_up` event. An exception from the study's code is a `crash` (sent after that event):
 * raised in making a game or in its first step, it stops the page before Start.
 * @param {Record<string, object>} configs the manifest's games @param {Loaded} loaded
 * @param {Pick<PageChannel, "event" | "crash" | "playable">} page
 * @returns {{ended: Promise<WarmUpEnd>, stop: () => Promise<WarmUpEnd>}} `ended` tells how the warm-up ended;
 *   `stop` ends it (at most one step away) before a run starts, so the models never run twice at once, and tells
 *   the same ("failed": the study's code raised, a `crash` is on its way to the page)
 */
export function warmUp(configs, { games, policies }, page) {
  let stopped = false;
  let error = null; // what the study's code raised
  const next = nextTask();
  /** @type {Promise<WarmUpEnd>} */
  const ended = (async () => {
    const started = performance.now();
    let warm = null;
    try {
      for (const [key, config] of Object.entries(configs)) {
        if (stopped) break;
        games.get(key, config);
        await next();
      }
      warm = games.warmUp(Object.values(configs), WARM_UP_STEPS);
      const firstSteps = Object.keys(configs).length; // the games take turns: each game's first step comes first
      const nextStep = () => (stopped ? null : warm.step_json()); // null once every game has warmed up
      for (let requests = nextStep(); requests != null; requests = nextStep()) {
        const batch = JSON.parse(requests);
        if (policies && batch.length) await policies.run(batch);
        if (warm.steps_played === firstSteps) page.playable();
        await next();
      }
    } catch (failure) { // the study's code raised: the page stops before Start (a `crash`, after this event)
      error = failure;
      console.warn("gymcast: warming up the game failed", failure);
    }
    page.event({ type: "warm_up", steps: warm?.steps_played ?? 0, ms: round(performance.now() - started),
                 stopped_by_start: stopped, ...(error && { error: String(error?.message ?? error).slice(-2000) }) });
    warm?.destroy();
    next.close();
    if (error) page.crash(error, { stage: "warm_up" });
    return error ? "failed" : stopped ? "stopped" : "finished";
  })();
  return {
    ended,
    stop() {
      stopped = true;
      return ended;
    },
  };
}

/**
 * Play each game `steps` steps with random actions, in Python alone (no model runs, no frames to the page), and let
 * go of everything: the snapshot maker does this before its snapshot, so that restored visits find what a first
 * step imports and fills (the env's modules, Python's caches) already done.
 * @param {any} pyodide @param {any} manifest @param {number} steps
 */
export function exerciseGames(pyodide, manifest, steps) {
  const games = new Games(pyodide);
  let warm = null;
  try {
    warm = games.warmUp(Object.values(manifest.games), steps);
    while (warm.step_json() != null);
  } finally {
    warm?.destroy();
    games.destroy();
  }
}

/**
 * Waits for a new task, so messages already queued (a Start) are handled first. Unlike `setTimeout(0)`, which
 * browsers clamp to 4 ms once nested, it waits for nothing else. `close` frees its channel.
 * @returns {(() => Promise<void>) & {close: () => void}}
 */
function nextTask() {
  const channel = new MessageChannel();
  const next = () => new Promise((resolve) => {
    channel.port1.onmessage = () => resolve(undefined);
    channel.port2.postMessage(null);
  });
  return Object.assign(next, { close: () => channel.port1.close() });
}

/** A slim bundle left unimported modules out: fetch their full archive if the game ever needs one. */
export function installPrunedFinder(pyodide, manifest, url, page) {
  const fetchSync = (/** @type {string} */ path) => { // a worker may block on a request; Python's import is synchronous
    const failed = (/** @type {string} */ why) => new Error(`could not fetch ${path} for a module the slim bundle left out (${why}). `
      + "Fix: list the module in .keep_modules() and rebuild, so it ships and needs no network");
    const request = new XMLHttpRequest();
    request.open("GET", url(path), false);
    request.responseType = "arraybuffer";
    try {
      request.send();
    } catch (error) { // offline, say
      throw failed(String(error?.message ?? error));
    }
    if (request.status !== 200) throw failed(`HTTP ${request.status}`);
    return new Uint8Array(request.response);
  };
  const report = (/** @type {string} */ module, /** @type {string} */ archive) => {
    console.warn(`gymcast: ${module} was not in the slim bundle; loaded it from ${archive} (.keep_modules("${module}") ships it)`);
    page.event({ type: "pruned_module", module, archive });
  };
  pyodide.pyimport("gymcast_runtime.pruned").install(pyodide.toPy(manifest.pruned ?? []), fetchSync, report);
}

/** A runner of loading stages that times each (`bootTimes[key]` in ms); a failure names the stage and keeps the message. */
function timedStage(bootTimes) {
  return async (/** @type {string} */ key, /** @type {string} */ label, /** @type {() => Promise<any>} */ work) => {
    const started = performance.now();
    try {
      return await work();
    } catch (error) {
      throw new Error(`${label} failed: ${error?.message ?? error}`);
    } finally {
      bootTimes[key] = round(performance.now() - started);
    }
  };
}

/**
 * Download groups of files one group after the other (each group's files in parallel), reporting progress
 * between 2% and 90% by bytes received.
 * @param {{url: string, size: number}[][]} groups @param {PageChannel} page
 */
async function prefetch(groups, page) {
  const total = groups.flat().reduce((sum, file) => sum + file.size, 0) || 1;
  let received = 0;
  for (const files of groups) {
    await Promise.all(files.map(async (file) => {
      const response = await fetch(file.url);
      if (!response.ok) throw new Error(`could not download ${file.url}: HTTP ${response.status}`);
      const reader = response.body.getReader();
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
        received += chunk.value.byteLength;
        page.progress(0.02 + 0.88 * (received / total), "Downloading…");
      }
    }));
  }
}
