// Exact replay (gymcast.replay): node replay.mjs BUNDLE REQUEST_JSON_FILE RESULTS_JSON_FILE
// Boots the bundle's Pyodide as the browser's worker does, replays each logged episode of the request
// ({"episodes": [...], "keep_observations": bool}) in the runtime's GameSession
// (gymcast_runtime.replay.replay_all_json), and writes the results, one per episode, as a JSON list.
import { readFileSync, writeFileSync } from "node:fs";
import { exitOnPythonError, startBundlePython } from "./bundle_python.mjs";

const [bundle, requestFile, resultsFile] = process.argv.slice(2);
const { pyodide, manifest } = await startBundlePython(bundle);
exitOnPythonError(() => {
  const replay = pyodide.pyimport("gymcast_runtime.replay");
  writeFileSync(resultsFile, replay.replay_all_json(JSON.stringify(manifest.games), readFileSync(requestFile, "utf8")));
});
