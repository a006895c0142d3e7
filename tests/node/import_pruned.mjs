// Imports modules a slim bundle left out, in Pyodide under Node, through gymcast_runtime.pruned:
// node import_pruned.mjs BUNDLE PYTHON_CODE. Prints {"reports": [[module, archive], ...], "result": ...}.
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const [bundle, code] = process.argv.slice(2);
const root = resolve(bundle);
const manifest = JSON.parse(readFileSync(join(root, "manifest.json"), "utf8"));
const indexURL = join(root, manifest.pyodide.index_url) + "/";
const { loadPyodide } = await import(pathToFileURL(join(indexURL, "pyodide.mjs")).href);
const pyodide = await loadPyodide({ indexURL, lockFileURL: join(root, manifest.pyodide.lock_url), env: { PYTHONHASHSEED: "0" } });
await pyodide.loadPackage(manifest.packages, { messageCallback: () => {} });
const reports = [];
const fetchFile = (path) => new Uint8Array(readFileSync(join(root, path))); // the browser uses a synchronous XHR
pyodide.pyimport("gymcast_runtime.pruned").install(pyodide.toPy(manifest.pruned), fetchFile, (module, archive) => reports.push([module, archive]));
pyodide.pyimport("gymcast_runtime.loading").preload(pyodide.toPy([]));
const result = pyodide.runPython(code);
console.log(JSON.stringify({ reports, result }));
