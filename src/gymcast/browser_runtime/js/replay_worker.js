// @ts-check
// The replay worker: re-simulates one logged episode from its seed and logged actions in the bundle's env.
// Messages in:  {type: "init", manifest, baseUrl, game, seed, episode, actions: [{agent: action}, ...]}
//               | {type: "show", step}
// Messages out: {type: "verified", start: {obs_hash}, records: [step record, ...]} (every step replayed once)
//               | {type: "frame", step, bitmap?, json?} | {type: "error", message}

import { frameBitmap } from "./frames.js";
import { installPackages, installPrunedFinder, pyodideOptions } from "./loading.js";

/** @type {any} */
let session = null;
/** @type {any} */
let job = null;
let at = -1; // the step the session is at (-1: not reset yet)

self.onmessage = async ({ data }) => {
  try {
    if (data.type === "init") await init(data);
    else if (data.type === "show") await show(data.step);
  } catch (error) {
    self.postMessage({ type: "error", message: String(/** @type {any} */ (error)?.message ?? error) });
  }
};

async function init(data) {
  job = data;
  const pyodide = await loadRuntime(data.manifest, data.baseUrl);
  session = pyodide.pyimport("gymcast_runtime.bridge").WorkerGame(JSON.stringify(data.game));
  const start = JSON.parse(session.reset_json(job.seed, job.episode));
  const records = job.actions.map((actions) => JSON.parse(session.step_json(JSON.stringify(actions))));
  at = records.length;
  self.postMessage({ type: "verified", start, records });
}

/** Bring the env to `step` (from a fresh reset when going back) and send its frame. */
async function show(step) {
  if (step < at || at < 0) {
    session.reset_json(job.seed, job.episode);
    at = 0;
  }
  while (at < step) {
    session.step_json(JSON.stringify(job.actions[at]));
    at += 1;
  }
  if (job.game.rendering.objects_fn) {
    self.postMessage({ type: "frame", step, json: session.objects_json() });
  } else {
    const bitmap = await frameBitmap(session);
    self.postMessage({ type: "frame", step, bitmap }, [bitmap]);
  }
}

/** Pyodide with the bundle's packages (the env, its code, gymcast_runtime), as the game's worker loads them,
 *  without the snapshots, policies and warm-up a replay does not need. */
async function loadRuntime(manifest, baseUrl) {
  const options = pyodideOptions(manifest, baseUrl);
  const pyodide = await (await import(options.indexURL + "pyodide.mjs")).loadPyodide(options);
  await installPackages(pyodide, manifest.packages);
  const url = (/** @type {string} */ path) => new URL(path, baseUrl).href;
  installPrunedFinder(pyodide, manifest, url, { event: () => {} });
  return pyodide;
}
