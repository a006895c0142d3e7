// @ts-check
// Starts a bundle's Pyodide under Node the way the browser's worker does: the bundle's lock,
// PYTHONHASHSEED=0, its packages through loadPackage, and (for slim bundles) the finder that fetches
// modules the bundle left out, here read from the bundle folder. Used by trace.mjs and replay.mjs.
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

/**
 * @param {string} bundle the bundle folder
 * @returns {Promise<{pyodide: any, manifest: any}>}
 */
export async function startBundlePython(bundle) {
  const root = resolve(bundle);
  const manifest = JSON.parse(readFileSync(join(root, "manifest.json"), "utf8"));
  const indexURL = join(root, manifest.pyodide.index_url) + "/";
  const { loadPyodide } = await import(pathToFileURL(join(indexURL, "pyodide.mjs")).href);
  const pyodide = await loadPyodide({
    indexURL, lockFileURL: join(root, manifest.pyodide.lock_url), env: { PYTHONHASHSEED: "0" },
    stdout: (/** @type {string} */ line) => console.error(line), stderr: (/** @type {string} */ line) => console.error(line),
  });
  const errors = [];
  await pyodide.loadPackage(manifest.packages, { messageCallback: () => {}, errorCallback: (/** @type {string} */ m) => errors.push(m) });
  if (errors.length) throw new Error(errors.join("\n"));
  if (manifest.pruned?.length) {
    const fetchFile = (/** @type {string} */ path) => new Uint8Array(readFileSync(join(root, path)));
    pyodide.pyimport("gymcast_runtime.pruned").install(pyodide.toPy(manifest.pruned), fetchFile, () => {});
  }
  return { pyodide, manifest };
}

/** Runs `fn`; a Python exception is printed as its traceback alone (not Pyodide's minified source) and exits 1. */
export function exitOnPythonError(/** @type {() => void} */ fn) {
  try {
    fn();
  } catch (error) {
    console.error(/** @type {Error} */ (error).message);
    process.exit(1);
  }
}
