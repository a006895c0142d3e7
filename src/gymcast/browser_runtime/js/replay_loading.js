// @ts-check
// Thin loading for the replay worker: Pyodide and the bundle's packages, the game, and frames as messages.
// TODO(merge): branch `worker` split worker.js into loading.js (load: Pyodide, packages, pruned finder, warm-up,
// snapshot) and frames.js (frameBitmap). After merging, replace loadRuntime with loading.js's `load` (the replay
// needs no policies or warm-up), frameMessage's pixel path with frames.js's `frameBitmap`, and openGame with
// `WorkerGame` alone. This file repeats only what those do, so the replay worker works on either tree.

/**
 * Start Pyodide from the bundle and install its packages (the env, its code, gymcast_runtime).
 * @param {any} manifest the bundle's manifest.json
 * @param {string} baseUrl the bundle's root URL
 * @returns {Promise<any>} the Pyodide instance
 */
export async function loadRuntime(manifest, baseUrl) {
  const url = (/** @type {string} */ path) => new URL(path, baseUrl).href;
  const indexURL = url(manifest.pyodide.index_url);
  const { loadPyodide } = await import(indexURL + "pyodide.mjs");
  const pyodide = await loadPyodide({
    indexURL, lockFileURL: url(manifest.pyodide.lock_url), env: { PYTHONHASHSEED: "0" },
    stdout: (/** @type {string} */ line) => console.log(line), stderr: (/** @type {string} */ line) => console.warn(line),
  });
  const errors = [];
  await pyodide.loadPackage(manifest.packages, { messageCallback: () => {}, errorCallback: (m) => errors.push(m) });
  if (errors.length) throw new Error(errors.join("\n"));
  const fetchSync = (/** @type {string} */ path) => {
    const request = new XMLHttpRequest();
    request.open("GET", url(path), false);
    request.responseType = "arraybuffer";
    request.send();
    if (request.status !== 200) throw new Error(`could not fetch ${path}: HTTP ${request.status}`);
    return new Uint8Array(request.response);
  };
  pyodide.pyimport("gymcast_runtime.pruned").install(pyodide.toPy(manifest.pruned ?? []), fetchSync, () => {});
  return pyodide;
}

/**
 * The game `config` ready to replay: the worker's JSON adapter, `gymcast_runtime.bridge.WorkerGame` (after
 * the worker split) or a `GameSession` (before it, when GameSession had the JSON methods itself).
 * @param {any} pyodide
 * @param {any} config the game config (a manifest `games` entry)
 */
export function openGame(pyodide, config) {
  const json = JSON.stringify(config);
  try {
    return pyodide.pyimport("gymcast_runtime.bridge").WorkerGame(json);
  } catch {
    return pyodide.pyimport("gymcast_runtime").GameSession(pyodide.pyimport("json").loads(json));
  }
}

/**
 * The current frame of a WorkerGame (or GameSession) as a message for the page: `{json}` for object rendering, else `{bitmap}`.
 * @param {any} session what openGame answered
 * @param {any} game the game config
 */
export async function frameMessage(session, game) {
  if (game.rendering.objects_fn) return { json: session.objects_json() };
  const frame = session.frame_bytes();
  const [height, width, channels, bytes] = frame.toJs();
  frame.destroy();
  let pixels = new Uint8ClampedArray(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (channels === 3) {
    const rgba = new Uint8ClampedArray(width * height * 4);
    for (let from = 0, to = 0; from < bytes.length; from += 3, to += 4) {
      rgba[to] = bytes[from]; rgba[to + 1] = bytes[from + 1]; rgba[to + 2] = bytes[from + 2]; rgba[to + 3] = 255;
    }
    pixels = rgba;
  }
  return { bitmap: await createImageBitmap(new ImageData(pixels, width, height)) };
}
