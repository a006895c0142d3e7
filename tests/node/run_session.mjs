// Runs a bundle's game (gymcast_runtime.bridge.WorkerGame, as the worker does) in Pyodide under Node:
// node run_session.mjs BUNDLE SEED ACTIONS_JSON [GAME_KEY] (GAME_KEY: one of manifest.games; default: manifest.game).
// Prints {"reset": ..., "steps": [...]} as JSON on the last line of stdout.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [bundle, seed, actionsJson, gameKey] = process.argv.slice(2);
const manifest = JSON.parse(readFileSync(join(bundle, "manifest.json"), "utf8"));
const indexURL = join(bundle, manifest.pyodide.index_url) + "/";
const { loadPyodide } = await import(pathToFileURL(join(indexURL, "pyodide.mjs")).href);
const pyodide = await loadPyodide({
  indexURL, lockFileURL: join(bundle, manifest.pyodide.lock_url), env: { PYTHONHASHSEED: "0" },
  stdout: () => {}, stderr: (line) => console.error(line),
});
await pyodide.loadPackage(manifest.packages, { messageCallback: () => {} });
const { WorkerGame } = pyodide.pyimport("gymcast_runtime.bridge");
const game = WorkerGame(JSON.stringify(gameKey ? manifest.games[gameKey] : manifest.game));
const reset = JSON.parse(game.reset_json(Number(seed)));
const steps = JSON.parse(actionsJson).map((actions) => JSON.parse(game.step_json(JSON.stringify(actions))));
const [height, width, channels, pixels] = game.frame_bytes().toJs();
const digest = createHash("sha256").update(pixels).digest("hex");
console.log(JSON.stringify({ reset, steps, frame: [height, width, channels, digest], platform: pyodide.runPython("import sys; sys.platform") }));
