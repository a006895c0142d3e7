// @ts-check
// The game worker: Pyodide, the env loop at a fixed rate, and pictures for the page. This file only
// dispatches: the page's messages (protocol.js defines both directions) go to loading (loading.js,
// then a warm-up) or to the current run (run.js; networked play in netplay.js), and every message to
// the page leaves through `page` below.

import { KeyState } from "./input.js";
import { load, warmUp } from "./loading.js";
import { Run, guarded } from "./run.js";
import { SnapshotMaker } from "./snapshot_maker.js";

/** @typedef {import("./protocol.js").ToWorker} ToWorker */
/** @typedef {import("./protocol.js").ToPage} ToPage */

/** @param {ToPage} message @param {Transferable[]} transfer */
const post = (message, transfer = []) => self.postMessage(message, transfer);

/** @type {import("./protocol.js").PageChannel} */
const page = {
  progress: (fraction, label) => post({ type: "progress", fraction, label }),
  ready: (boot_ms, python_snapshot, python_boot) => post({ type: "ready", boot_ms, python_snapshot, python_boot }),
  playable: () => post({ type: "playable" }),
  event: (event) => post({ type: "event", event }),
  frame: (bitmap, episode, step) => post({ type: "frame", bitmap, episode, step }, [bitmap]),
  objects: (json, period_ms, episode, step) => post({ type: "objects", json, period_ms, episode, step }),
  net: (status) => post({ type: "net", ...status }),
  turn: (turn) => post({ type: "turn", ...turn }),
  notice: (text) => post({ type: "notice", text }),
  done: (outcome) => {
    post({ type: "done", outcome });
    snapshots?.start(); // the run is over: make the snapshot now if a run interrupted it
  },
  error: (error) => post({ type: "error", message: String(/** @type {any} */ (error)?.message ?? error) }),
  crash: (error, place) => post({ type: "crash", ...crashText(error), ...place }),
};

const MAX_TRACEBACK = 16_000;

/** An exception's last line (`message`) and its whole text (`traceback`, a Python traceback's last part). */
function crashText(/** @type {unknown} */ error) {
  const text = String(/** @type {any} */ (error)?.message ?? error);
  const lines = text.trim().split("\n");
  return { message: lines.at(-1) ?? text, traceback: text.slice(-MAX_TRACEBACK) };
}

const CONTROLS = new Set(["feedback", "pause", "resume", "restart", "fps"]);
const keys = new KeyState(); // the keys held now: the runs read them each step
/** @type {import("./loading.js").Loaded | null} */
let loaded = null;
/** @type {ReturnType<typeof warmUp> | null} the warm-up after loading */
let warming = null;
/** @type {SnapshotMaker | null} makes the snapshot after the imports on a visit that booted afresh */
let snapshots = null;
/** @type {Run | null} the current (or last) game scene's run */
let run = null;

/** An exception outside a run's own guard (the experiment's click, page or start code): stop the run, tell the page. */
const fail = (error) => {
  run?.stop();
  page.crash(error, run?.where() ?? { stage: "play" });
};

self.onmessage = async (/** @type {MessageEvent<ToWorker>} */ { data }) => {
  try {
    if (data.type === "init") {
      loaded = await load(data.manifest, data.baseUrl, page);
      warming = warmUp(data.manifest.games, loaded, page);
      if (loaded.boot.path === "fresh") {
        const maker = new SnapshotMaker(data.manifest, data.baseUrl, loaded.pyodide, page.event);
        snapshots = maker;
        warming.ended.then((end) => end === "finished" && !run && maker.start());
      }
    } else if (data.type === "start") guarded(start, fail)(data);
    else if (data.type === "key") onKey(data);
    else if (data.type === "click") guarded(() => run?.onClick(data.x, data.y), fail)();
    else if (data.type === "page") guarded(onPage, fail)(data.what);
    else if (run && CONTROLS.has(data.type)) guarded((control) => run[control.type](control), fail)(data);
  } catch (error) {
    page.error(error);
  }
};

/** Start a game scene: a run of its own, from `startEpisode` (an episode cut by a reload restarts). */
async function start({ scene, key, config, startEpisode = 0, relay = null, visible = true }) {
  snapshots?.stop(); // play comes first
  if ((await warming?.stop()) === "failed") return; // the models never run twice at once; a warm-up that raised ends it all
  run = new Run({ scene, key, config, startEpisode, loaded, keys, page });
  run.start(relay, visible);
}

function onKey({ key, down, t }) {
  down ? keys.press(key) : keys.release(key);
  run?.onKey(key, down, t);
}

function onPage(what) {
  if (run) run.onPage(what);
  else page.event({ type: "page", what });
}
