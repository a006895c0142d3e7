// @ts-check
// The snapshot maker: a second worker the game worker starts once the first visit is playable. It
// boots Python as a return visit will restore it (the game worker's libraries loaded first, in its
// order), installs the packages, imports the games' modules, plays each game a few steps on a
// throwaway env, and stores the snapshot with the files the packages installed (import_snapshot.js).
// No participant plays on it: the interpreter that made the snapshot is thrown away.
// Messages: protocol.js (SnapshotRequest in, SnapshotOutcome out).

import { filesAddedSince, listFiles, loadPyodideWith, saveSnapshot } from "./import_snapshot.js";
import { exerciseGames, installPackages, preloadModules, pyodideOptions } from "./loading.js";

const EXERCISED_STEPS = 3; // per game, before the snapshot (see exerciseGames)

self.onmessage = async (/** @type {MessageEvent<import("./protocol.js").SnapshotRequest>} */ { data }) => {
  const started = performance.now();
  /** @type {import("./protocol.js").SnapshotOutcome} */
  let outcome;
  try {
    const { manifest, baseUrl, libraries } = data;
    const options = pyodideOptions(manifest, baseUrl);
    const compiled = await Promise.all(libraries.map(async (library) => ({ ...library, module: await WebAssembly.compile(library.bytes) })));
    const pyodide = await loadPyodideWith(options.indexURL, compiled, { ...options, _makeSnapshot: true });
    const booted = listFiles(pyodide.FS);
    await installPackages(pyodide, manifest.packages);
    const installed = filesAddedSince(pyodide.FS, booted); // before the imports: only what the packages brought
    preloadModules(pyodide, manifest);
    let unexercised = null; // why the games could not be played (a module the slim bundle left out, say): made without
    try {
      exerciseGames(pyodide, manifest, EXERCISED_STEPS);
    } catch (error) {
      unexercised = String(error?.message ?? error).slice(-1000);
    }
    const bytes = await saveSnapshot(pyodide, { indexURL: options.indexURL, buildId: manifest.build_id, libraries, installed, started });
    outcome = { type: "made", bytes, ms: Math.round(performance.now() - started), ...(unexercised && { unexercised }) };
  } catch (error) {
    outcome = { type: "failed", why: String(error?.message ?? error).slice(0, 1000), ms: Math.round(performance.now() - started) };
  }
  self.postMessage(outcome);
};
