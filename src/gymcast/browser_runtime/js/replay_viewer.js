// @ts-check
// The dashboard's replay viewer (/admin/replay?session=&scene=&episode=&attempt=): re-simulates one logged
// episode in the bundle's own Pyodide, env and renderer, checks every logged state hash, and plays it back
// with play, pause, step, speed and a scrubber beside the step's logged actions, keys and rewards.
// `window.replayViewer.status()` reports {phase, step, total, checked, mismatches, first_divergence, frames_shown}.

import { ObjectView } from "./objects.js";
import { FrameView } from "./render.js";

const $ = (/** @type {string} */ id) => /** @type {any} */ (document.getElementById(id));
const status = {
  phase: "loading", step: 0, total: 0, checked: 0, /** @type {number[]} */ mismatches: [],
  /** @type {number | null} */ first_divergence: null, frames_shown: 0, /** @type {string | null} */ error: null,
  /** @type {string | null} */ detail: null,
};

/** Equal JSON values, whatever the order of object keys (the API's JSON has its keys sorted). */
function sameValues(a, b) {
  const canonical = (value) => JSON.stringify(value, (_, v) =>
    v && typeof v === "object" && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort()) : v);
  return canonical(a) === canonical(b);
}
window.replayViewer = { status: () => ({ ...status, mismatches: [...status.mismatches] }) };

let playing = false;
let wanted = 0; // the step to show next
let inFlight = false;
/** @type {any} */
let logged = null;
/** @type {any[]} */
let replayed = [];
/** @type {any} */
let startRecord = null;
/** @type {Worker | null} */
let worker = null;

function fail(message) {
  Object.assign(status, { phase: "error", error: message });
  $("replay-status").textContent = `The replay failed: ${message}`;
}

async function main() {
  const params = new URLSearchParams(location.search);
  const session = params.get("session") ?? "";
  const baseUrl = new URL("/", location.href).href;
  const [manifest, data] = await Promise.all([
    fetch("/manifest.json").then((r) => r.json()),
    fetch(`/admin/api/episodes/${encodeURIComponent(session)}`, { credentials: "same-origin" }).then((r) => r.json()),
  ]);
  const matching = (data.episodes ?? []).filter((e) =>
    (!params.get("scene") || e.scene === params.get("scene"))
    && (!params.has("episode") || e.episode === Number(params.get("episode")))
    && (!params.has("attempt") || e.attempt === Number(params.get("attempt"))));
  logged = matching.at(-1);
  if (!logged) return fail(data.error ?? "no such logged episode");
  const game = manifest.games[logged.game];
  $("replay-title").textContent = `Session ${session.slice(0, 8)} · ${logged.game} · episode ${logged.episode}`
    + (logged.attempt ? ` (attempt ${logged.attempt})` : "") + ` · seed ${logged.seed}`;
  status.total = logged.steps.length;
  $("replay-scrubber").max = String(status.total);
  const view = game.rendering.objects_fn
    ? await ObjectView.create(await import(new URL(manifest.phaser.module, baseUrl).href), $("replay-screen"),
      game.rendering, (/** @type {string} */ path) => new URL(path, baseUrl).href)
    : new FrameView($("replay-screen"), game.rendering.width, game.rendering.height);

  worker = new Worker(new URL("replay_worker.js", import.meta.url), { type: "module" });
  worker.onerror = (event) => fail(event.message ?? "the replay worker failed");
  worker.onmessage = ({ data: message }) => {
    if (message.type === "error") fail(message.message);
    else if (message.type === "verified") verified(message);
    else if (message.type === "frame") {
      inFlight = false;
      if (message.bitmap) view.show(message.bitmap, [logged.episode, message.step]);
      else view.show(message.json, [logged.episode, message.step], 1000 / game.rendering.fps);
      status.frames_shown += 1;
      showStep(message.step);
      request();
    }
  };
  worker.postMessage({
    type: "init", manifest, baseUrl, game, seed: logged.seed, episode: logged.episode,
    actions: logged.steps.map((/** @type {any} */ s) => s.actions),
  });
  setupControls(game.rendering.fps);
}

/** Compare the replay with the log: every logged hash (and reward and end flag) at its step. */
function verified({ start, records }) {
  startRecord = start;
  replayed = records;
  /** What differs between the replayed and the logged record of step `index` ("" when nothing). */
  const difference = (/** @type {number} */ index) => {
    const want = logged.steps[index];
    const got = records[index];
    if (!got) return "not replayed";
    if (want.obs_hash != null && got.obs_hash !== want.obs_hash) return `state hash ${got.obs_hash} != logged ${want.obs_hash}`;
    if (!sameValues(got.rewards, want.rewards)) return `rewards ${JSON.stringify(got.rewards)} != logged ${JSON.stringify(want.rewards)}`;
    if (got.terminated !== want.terminated || got.truncated !== want.truncated) return "the episode's end differs";
    return "";
  };
  status.mismatches = [];
  if (logged.start_hash != null && start.obs_hash !== logged.start_hash) {
    status.mismatches.push(0);
    status.detail = `reset state hash ${start.obs_hash} != logged ${logged.start_hash}`;
  }
  for (let index = 0; index < logged.steps.length; index += 1) {
    if (logged.steps[index].obs_hash != null) status.checked += 1;
    const problem = difference(index);
    if (!problem) continue;
    status.mismatches.push(logged.steps[index].step);
    status.detail ??= problem;
  }
  status.first_divergence = status.mismatches[0] ?? null;
  status.phase = "ready";
  $("replay-status").textContent = status.first_divergence == null
    ? `Replayed ${status.total} steps: all ${status.checked} logged state hashes match.`
    : `Diverges from the log at step ${status.first_divergence}: ${status.detail} (${status.mismatches.length} step(s) differ).`;
  $("replay-status").dataset.result = status.first_divergence == null ? "match" : "diverged";
  const list = status.mismatches.slice(0, 50).map((step) => {
    const link = Object.assign(document.createElement("button"), { type: "button", textContent: `step ${step}` });
    link.onclick = () => seek(step);
    return link;
  });
  $("replay-check").replaceChildren(
    Object.assign(document.createElement("p"), { textContent: `${status.checked} logged hashes checked` }), ...list);
  seek(0);
}

/** Ask the worker for the frame of `wanted` unless a request is already out. */
function request() {
  if (inFlight || (wanted === status.step && status.frames_shown > 0)) return;
  inFlight = true;
  worker?.postMessage({ type: "show", step: wanted });
}

function seek(step) {
  wanted = Math.max(0, Math.min(status.total, step));
  request();
}

/** The step's logged record beside the replayed one; a differing step is flagged. */
function showStep(step) {
  status.step = step;
  $("replay-scrubber").value = String(step);
  $("replay-position").textContent = `step ${step} / ${status.total}`;
  const want = step === 0 ? { actions: null, keys: null, rewards: null, obs_hash: logged.start_hash } : logged.steps[step - 1];
  const got = step === 0 ? startRecord : replayed[step - 1];
  const diverged = status.mismatches.includes(step);
  const rows = [
    ["actions", JSON.stringify(want.actions)], ["keys", JSON.stringify(want.keys)], ["rewards", JSON.stringify(want.rewards)],
    ["logged hash", want.obs_hash ?? "(not logged at this step)"], ["replayed hash", got?.obs_hash ?? "–"],
    ["check", diverged ? "DIVERGES from the log at this step" : "matches the log"],
  ];
  const table = document.createElement("table");
  for (const [name, value] of rows) {
    const row = table.insertRow();
    row.insertCell().textContent = name;
    row.insertCell().textContent = String(value);
  }
  table.dataset.diverged = String(diverged);
  if (diverged) table.style.background = "#fdd";
  $("replay-step-info").replaceChildren(table);
}

function setupControls(fps) {
  const tick = () => {
    if (!playing) return;
    if (status.step >= status.total) { playing = false; $("replay-play").textContent = "Play"; return; }
    seek(status.step + 1);
    setTimeout(tick, 1000 / (fps * Number($("replay-speed").value)));
  };
  $("replay-play").onclick = () => {
    playing = !playing;
    $("replay-play").textContent = playing ? "Pause" : "Play";
    if (playing) tick();
  };
  $("replay-step").onclick = () => { playing = false; seek(status.step + 1); };
  $("replay-back").onclick = () => { playing = false; seek(status.step - 1); };
  $("replay-scrubber").oninput = () => seek(Number($("replay-scrubber").value));
}

main().catch((error) => fail(String(error?.message ?? error)));
