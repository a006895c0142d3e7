// Runs a Python script in a bundle's Pyodide under Node: node run_python.mjs BUNDLE SCRIPT.py INPUT.json
// The script reads `INPUT` (the parsed JSON) and sets `RESULT`; its JSON is printed on the last line of stdout.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [bundle, script, input] = process.argv.slice(2);
const manifest = JSON.parse(readFileSync(join(bundle, "manifest.json"), "utf8"));
const indexURL = join(bundle, manifest.pyodide.index_url) + "/";
const { loadPyodide } = await import(pathToFileURL(join(indexURL, "pyodide.mjs")).href);
const pyodide = await loadPyodide({
  indexURL, lockFileURL: join(bundle, manifest.pyodide.lock_url), env: { PYTHONHASHSEED: "0" },
  stdout: () => {}, stderr: (line) => console.error(line),
});
await pyodide.loadPackage(manifest.packages, { messageCallback: () => {} });
pyodide.globals.set("INPUT_JSON", readFileSync(input, "utf8"));
pyodide.runPython("import json\nINPUT = json.loads(INPUT_JSON)");
pyodide.runPython(readFileSync(script, "utf8"));
console.log(pyodide.runPython("json.dumps(RESULT)"));
