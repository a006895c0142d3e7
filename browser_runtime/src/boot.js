// Boot: read the manifest, start the worker, register the session, and wire keys, frames and logs.
// `window.gymcast.status()` reports {phase, episode, step, pending_events, ...} for tests and embedding pages.

import { KeyboardCapture } from "./input.js";
import { Outbox, createSession } from "./net.js";
import { FrameView, Overlay } from "./render.js";

const $ = (id) => document.getElementById(id);
const status = {
  phase: "loading", episode: 0, step: 0, in_episode: false, paused: false, fps: null, session_id: null, error: null,
};
let outbox = null;
let view = null;

window.gymcast = {
  status: () => ({
    ...status,
    frames_drawn: view?.framesDrawn ?? 0,
    pending_events: outbox?.pending() ?? 0,
    rejected_events: outbox?.rejected.length ?? 0,
    durable_log: outbox?.durable() ?? false,
    log_error: outbox?.lastError ?? null,
  }),
  /** performance.now() times at which new frames reached the canvas (the latest 4096). */
  drawTimes: () => [...(view?.drawTimes ?? [])],
};

function fail(message) {
  status.phase = "error";
  status.error = message;
  $("loading").hidden = true;
  $("game").hidden = true;
  $("error").hidden = false;
  $("error-text").textContent = message;
  console.error(`gymcast: ${message}`);
}

async function boot() {
  const baseUrl = new URL(".", location.href).href;
  const response = await fetch("manifest.json", { cache: "no-cache" });
  if (!response.ok) throw new Error(`manifest.json could not be loaded (HTTP ${response.status})`);
  const manifest = await response.json();
  const game = manifest.game;
  const apiBase = game.log_url || new URL(".", baseUrl).href.replace(/\/$/, "");

  outbox = await Outbox.open({ apiBase, buildId: manifest.build_id });
  const resumed = outbox.resumedSession();
  const sessionReady = (resumed ? Promise.resolve(resumed) : createSession(apiBase, {
    experiment: game.name,
    build_id: manifest.build_id,
    url_params: Object.fromEntries(new URLSearchParams(location.search)),
    user_agent: navigator.userAgent,
  }).then((session) => outbox.adopt(session).then(() => session))).then((session) => {
    status.session_id = session.session_id;
    outbox.push({ type: "page_load", resumed: Boolean(resumed), url: location.href, durable_log: outbox.durable() });
  });

  const worker = new Worker(new URL("worker.js", import.meta.url), { type: "module" });
  const overlay = new Overlay($("overlay"));
  view = new FrameView($("screen"), game.rendering.width, game.rendering.height);
  const ready = new Promise((resolve, reject) => {
    worker.onerror = (event) => reject(new Error(`the game worker failed: ${event.message ?? "unknown error"}`));
    worker.onmessage = ({ data }) => {
      if (data.type === "progress") showProgress(data.fraction, data.label);
      else if (data.type === "ready") resolve();
      else if (data.type === "frame") view.show(data.bitmap);
      else if (data.type === "event") onEvent(data.event, overlay, game);
      else if (data.type === "done") finish(overlay);
      else if (data.type === "error") {
        reject(new Error(data.message));
        fail(data.message); // also after the game started
      }
    };
  });
  ready.catch((error) => fail(error.message));
  worker.postMessage({ type: "init", manifest, baseUrl });

  await Promise.all([ready, sessionReady]);
  $("loading").hidden = true;
  $("game").hidden = false;
  const keys = new Set(Object.values(game.players).flatMap((player) => Object.keys(player.keys ?? {})));
  new KeyboardCapture(keys, (key, down, t) => worker.postMessage({ type: "key", key, down, t }));
  const page = (what) => worker.postMessage({ type: "page", what });
  addEventListener("visibilitychange", () => page(document.visibilityState === "hidden" ? "hidden" : "visible"));
  addEventListener("blur", () => page("blur"));
  addEventListener("focus", () => page("focus"));
  showControls(game, (message) => worker.postMessage(message));
  status.phase = "ready";
  await overlay.show(`${game.gameplay.num_episodes} episode(s). Use the keys shown in the instructions.`, "Start");
  overlay.hide();
  status.phase = "playing";
  worker.postMessage({ type: "start" });
}

/** Show the participant controls the experiment enables, and send their clicks to the worker. */
function showControls(game, send) {
  const enabled = game.controls ?? {};
  for (const element of document.querySelectorAll("[data-control]")) element.hidden = !enabled[element.dataset.control];
  $("feedback-good").onclick = () => send({ type: "feedback", value: "good" });
  $("feedback-bad").onclick = () => send({ type: "feedback", value: "bad" });
  $("pause").onclick = () => send({ type: status.paused ? "resume" : "pause" });
  $("restart").onclick = () => send({ type: "restart" });
  $("fps-down").onclick = () => send({ type: "fps", fps: (status.fps ?? game.rendering.fps) - 5 });
  $("fps-up").onclick = () => send({ type: "fps", fps: (status.fps ?? game.rendering.fps) + 5 });
}

function showProgress(fraction, label) {
  $("loading-bar").style.width = `${Math.round(fraction * 100)}%`;
  $("loading-label").textContent = label;
}

function onEvent(event, overlay, game) {
  outbox.push(event);
  if (["episode_start", "step", "episode_end"].includes(event.type)) {
    status.episode = event.episode;
    status.step = event.step;
    status.in_episode = event.type !== "episode_end";
  }
  if (event.type === "run_start" || event.type === "fps") status.fps = event.fps;
  if (event.type === "pause" || event.type === "resume") status.paused = event.type === "pause";
  $("fps").textContent = status.fps;
  $("pause").textContent = status.paused ? "Resume" : "Pause";
  if (event.type === "episode_start") overlay.hide();
  if (event.type === "episode_end" && !event.restarted && event.episode + 1 < game.gameplay.num_episodes) {
    overlay.show(`Episode ${event.episode + 1} of ${game.gameplay.num_episodes} complete`);
  }
  $("hud-episode").textContent = `Episode ${status.episode + 1} / ${game.gameplay.num_episodes}`;
  $("hud-step").textContent = `Step ${status.step}`;
}

function finish(overlay) {
  status.phase = "done";
  overlay.show("All episodes complete. Thank you!");
}

boot().catch((error) => fail(error.message));
