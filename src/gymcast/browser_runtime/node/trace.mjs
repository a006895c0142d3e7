// Build-time trace (gymcast.bundler.slim): node trace.mjs BUNDLE OUT STEPS EXTRA_MODULES_JSON
// Boots the bundle's Pyodide with its lock, installs its packages, plays each game for STEPS random
// steps, and writes OUT/trace.json (the Python files used) plus OUT/pyc/ (their 3.12 bytecode).
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const [bundle, out, steps, extraModules] = process.argv.slice(2);
const manifest = JSON.parse(readFileSync(join(bundle, "manifest.json"), "utf8"));
const indexURL = join(resolve(bundle), manifest.pyodide.index_url) + "/";
const { loadPyodide } = await import(pathToFileURL(join(indexURL, "pyodide.mjs")).href);
const pyodide = await loadPyodide({
  indexURL, lockFileURL: join(resolve(bundle), manifest.pyodide.lock_url), env: { PYTHONHASHSEED: "0" },
  stdout: (line) => console.error(line), stderr: (line) => console.error(line),
});
await pyodide.loadPackage(manifest.packages, { messageCallback: () => {} });
pyodide.FS.mkdirTree("/trace_out");
pyodide.FS.mount(pyodide.FS.filesystems.NODEFS, { root: resolve(out) }, "/trace_out");
try {
  pyodide.pyimport("gymcast_runtime.trace").trace(JSON.stringify(manifest.games), extraModules, Number(steps), "/trace_out");
} catch (error) {
  console.error(error.message); // a Python traceback: say only that, not Pyodide's minified source
  process.exit(1);
}
