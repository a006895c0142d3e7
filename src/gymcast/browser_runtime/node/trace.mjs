// Build-time trace (gymcast.bundler.slim): node trace.mjs BUNDLE OUT STEPS EXTRA_MODULES_JSON
// Boots the bundle's Pyodide with its lock, installs its packages, plays each game for STEPS random
// steps, and writes OUT/trace.json (the Python files used) plus OUT/pyc/ (their 3.12 bytecode).
import { resolve } from "node:path";
import { exitOnPythonError, startBundlePython } from "./bundle_python.mjs";

const [bundle, out, steps, extraModules] = process.argv.slice(2);
const { pyodide, manifest } = await startBundlePython(bundle);
pyodide.FS.mkdirTree("/trace_out");
pyodide.FS.mount(pyodide.FS.filesystems.NODEFS, { root: resolve(out) }, "/trace_out");
exitOnPythonError(() =>
  pyodide.pyimport("gymcast_runtime.trace").trace(JSON.stringify(manifest.games), extraModules, Number(steps), "/trace_out"));
