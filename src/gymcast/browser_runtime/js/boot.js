// Boot: read the manifest, identify the participant, start the worker, and run the study's scenes.
// `window.gymcast.status()` reports {phase, scene, episode, step, pending_events, ...} for tests and embedding pages.

import { pythonFiles } from "./bundle_files.js";
import { runCompletion, runConsent, runPage, runSurvey, showErrorEnding, showMessage } from "./flow.js";
import { KeyboardCapture, chordKeys } from "./input.js";
import { Outbox, createSession, requestCompletionCode } from "./outbox.js";
import { Progress, hashedCondition, identifyParticipant } from "./participant.js";
import { ObjectView } from "./objects.js";
import { captureClicks, isTouchDevice, showKeyButtons } from "./pointer.js";
import { FrameView, Overlay } from "./render.js";

const $ = (id) => document.getElementById(id);
const REGISTRATION_WAIT_MS = 8000;
const WARM_UP_WAIT_MS = 10_000; // Start waits this long at most for the warm-up, so a warm-up error comes first
const ERROR_ACK_WAIT_MS = 15_000; // the error page waits this long at most for the host to store the error
const status = {
  phase: "loading", scene: null, episode: 0, step: 0, in_episode: false, paused: false, fps: null,
  session_id: null, participant_id: null, condition: null, error: null, net: null, offline_ready: false,
  boot_ms: null, python_snapshot: null, python_boot: null, turn: null, notice: null, ended_by_error: null,
};
let outbox = null;
let completed = false; // the session's completion is logged: the host takes no more events
let view = null;
let keyboard = null; // the KeyboardCapture (on-screen buttons press its keys too)

window.gymcast = {
  status: () => ({
    ...status,
    frames_drawn: view?.drawn.count ?? 0,
    pending_events: outbox?.pending() ?? 0,
    rejected_events: outbox?.rejected.length ?? 0,
    durable_log: outbox?.durable() ?? false,
    log_error: outbox?.lastError ?? null,
  }),
  /** performance.now() times at which new frames reached the canvas (the latest 4096). */
  drawTimes: () => view?.drawn.times() ?? [],
  /** [episode, step, performance.now()] when each step's frame first reached the screen (the latest 4096). */
  drawnSteps: () => [...(view?.drawn.steps ?? [])],
  /** Milliseconds Phaser spent on each display frame (object rendering only; the latest 4096). */
  renderTimes: () => [...(view?.renderTimes ?? [])],
};

function fail(message) {
  status.phase = "error";
  status.error = message;
  for (const id of ["loading", "game", "scene"]) $(id).hidden = true;
  $("error").hidden = false;
  $("error-text").textContent = message;
  console.error(`gymcast: ${message}`);
}

/** The game worker, created as the page boots so that its modules load meanwhile; `failed` resolves with its first error. */
function createWorker() {
  const worker = new Worker(new URL("worker.js", import.meta.url), { type: "module" }); // it waits for `init`
  const failed = new Promise((resolve) => worker.addEventListener("error", resolve, { once: true }));
  return { worker, failed };
}

/**
 * Start the game worker (`createWorker`; messages: protocol.js), with one handler per message kind. `game` is set
 * while a game scene runs; events outside games (page visibility, focus) go to `log`. `warmed` resolves once every
 * game is playable (made, and its first warm-up step played; the warm-up goes on) or the warm-up ended, or the
 * study's code raised (`crashed`: the worker's `crash` message, which goes to `onCrash`; the worker hears nothing
 * more).
 */
function startWorker({ worker, failed }, manifest, baseUrl, log, onCrash) {
  const bridge = { worker, game: null, crashed: null };
  let warmedUp;
  bridge.warmed = new Promise((resolve) => (warmedUp = resolve));
  bridge.ready = new Promise((resolve, reject) => {
    failed.then((event) => reject(new Error(`the game worker failed: ${event.message ?? "unknown error"}`)));
    worker.onmessage = ({ data }) => {
      if (bridge.crashed) return;
      if (data.type === "playable" || (data.type === "event" && data.event.type === "warm_up" && !data.event.error)) warmedUp();
      if (data.type === "crash") {
        bridge.crashed = data;
        worker.terminate();
        onCrash(data);
        warmedUp();
      }
      else if (data.type === "progress") showProgress(data.fraction, data.label);
      else if (data.type === "ready") {
        Object.assign(status, { boot_ms: data.boot_ms, python_snapshot: data.python_snapshot, python_boot: data.python_boot });
        log({ type: "boot", stages_ms: data.boot_ms, python_snapshot: data.python_snapshot, python_boot: data.python_boot });
        resolve();
      }
      else if (data.type === "frame") view?.show(data.bitmap, [data.episode, data.step]);
      else if (data.type === "objects") view?.show(data.json, [data.episode, data.step], data.period_ms);
      else if (data.type === "event") (bridge.game ? bridge.game.onEvent : log)(data.event);
      else if (data.type === "done") bridge.game?.done(data.outcome ?? null);
      else if (data.type === "net") bridge.game?.onNet(data);
      else if (data.type === "turn") showTurn(data);
      else if (data.type === "notice") showNotice(data.text);
      else if (data.type === "error") {
        reject(new Error(data.message));
        fail(data.message); // also once a game has started
      }
    };
  });
  bridge.ready.catch((error) => fail(error.message));
  worker.postMessage({ type: "init", manifest, baseUrl });
  return bridge;
}

/**
 * On a first visit (no service worker serves the page yet), start Python's downloads now: they land in the
 * HTTP cache while the page registers the session and the worker loads its modules, and the worker's own
 * requests for them wait for these and read the cache. Only Python's few big files: over HTTP/1.1 a browser
 * opens six connections to a host, and the worker's modules must not queue behind long downloads (the
 * worker fetches the wheels itself as it starts).
 */
function startDownloads(manifest, baseUrl) {
  if (navigator.serviceWorker?.controller) return; // a return visit: the service worker holds the files
  for (const [path] of pythonFiles(manifest)) {
    fetch(new URL(path, baseUrl), { priority: "high" })
      .then((response) => response.body?.pipeTo(new WritableStream()))
      .catch(() => {}); // the worker's own request reports a failure
  }
}

/** The bundle's service worker (return visits from the device, offline starts); null where unsupported. */
function registerServiceWorker(manifest) {
  if (!manifest.service_worker || !("serviceWorker" in navigator)) return null;
  return navigator.serviceWorker.register(manifest.service_worker).catch((error) => {
    console.warn(`gymcast: the service worker was not registered (${error.message}); return visits use the HTTP cache`);
    return null;
  });
}

/** Once booted, have the service worker store every file of this build; `status.offline_ready` tells when. */
async function precacheForOffline(manifest, serviceWorker) {
  if (!(await serviceWorker)) return;
  const registration = await navigator.serviceWorker.ready;
  navigator.serviceWorker.addEventListener("message", ({ data }) => {
    if (data?.type === "precached") status.offline_ready = true;
  });
  const fetchedOnNeed = new Set((manifest.pruned ?? []).map((archive) => archive.url)); // full archives: rarely used
  const urls = ["./", "index.html", "manifest.json", ...Object.keys(manifest.files).filter((path) => !fetchedOnNeed.has(path))];
  registration.active.postMessage({ type: "precache", urls });
}

async function boot() {
  const gameWorker = createWorker();
  const baseUrl = new URL(".", location.href).href;
  const response = await fetch("manifest.json", { cache: "no-cache" });
  if (!response.ok) throw new Error(`manifest.json could not be loaded (HTTP ${response.status})`);
  const manifest = await response.json();
  startDownloads(manifest, baseUrl);
  const { flow, game } = manifest;
  const apiBase = game.log_url || baseUrl.replace(/\/$/, "");
  const params = new URLSearchParams(location.search);
  const participant = identifyParticipant(params, game.name);
  const progress = new Progress(`${game.name}.${manifest.build_id}`, participant.id);
  // The session id and the secret that proves this device owns it (the host resumes a session only with it).
  if (!progress.state.session_id || !progress.state.resume_secret) {
    progress.update({ session_id: randomHex(), resume_secret: randomHex() + randomHex() });
  }
  Object.assign(status, { session_id: progress.state.session_id, participant_id: participant.id });

  const { log_schema, log_flush_ms, log_batch_events, log_batch_chars, live_events } = manifest.contracts;
  outbox = await Outbox.open({
    apiBase,
    schema: log_schema,
    intervalMs: log_flush_ms,
    batchSize: log_batch_events,
    batchChars: log_batch_chars,
    liveEvents: live_events,
  });
  await outbox.adopt(progress.state.session_id);
  completed = Boolean(progress.state.ended_by_error); // the study stopped by an error on an earlier page: no more events
  // After its completion the host takes no more events for the session, so none are logged.
  const log = (event) => completed || outbox.push({ scene: status.scene, ...event });
  log({ type: "page_load", resumed: progress.resumed, url: location.href, participant_id: participant.id,
        participant_source: participant.source, durable_log: outbox.durable() });

  // The host decides the experiment, build, condition and repeat policy from the bundle it serves.
  const registration = createSession(apiBase, {
    schema: manifest.contracts.log_schema,
    session_id: progress.state.session_id, resume_secret: progress.state.resume_secret,
    participant_id: participant.id, url_params: Object.fromEntries(params), user_agent: navigator.userAgent,
  }).then(async (session) => {
    await outbox.authorize(session.session_id, session.token, session.next_seq);
    return session;
  });
  const ending = { manifest, progress, registration, apiBase, log };
  if (progress.state.ended_by_error) {
    gameWorker.worker.terminate();
    return showEnding(progress.state.ended_by_error, ending);
  }
  const serviceWorker = registerServiceWorker(manifest);
  const bridge = startWorker(gameWorker, manifest, baseUrl, log, (crash) => endByError(crash, ending));
  bridge.ready.then(() => precacheForOffline(manifest, serviceWorker)).catch(() => {});
  // Phaser (object rendering only) downloads while Python starts.
  const phaser = manifest.phaser ? import(new URL(manifest.phaser.module, baseUrl).href) : null;
  phaser?.catch(() => {}); // a failure is reported when a game needs it
  const registered = await Promise.race([registration.catch((error) => error), sleep(REGISTRATION_WAIT_MS)]);
  if (registered?.status === 409) {
    status.phase = "done";
    return showMessage("You have already taken part", registered.message);
  }
  if (registered?.status === 403) { // the researcher closed recruitment (dashboard)
    status.phase = "done";
    return showMessage("This study is not taking participants", registered.message);
  }
  if (flow.conditions.length && !progress.state.condition) {
    const condition = registered?.condition ?? hashedCondition(participant.id, flow.conditions);
    progress.update({ condition });
    log({ type: "condition", condition, source: registered?.condition ? "host" : "participant hash" });
  }
  status.condition = progress.state.condition;
  keyboard = new KeyboardCapture(allKeys(manifest), (key, down, t) => bridge.worker.postMessage({ type: "key", key, down, t }));
  for (const [what, target] of [["visibilitychange", document], ["blur", window], ["focus", window]]) {
    target.addEventListener(what, () => bridge.worker.postMessage({
      type: "page", what: what === "visibilitychange" ? document.visibilityState : what,
    }));
  }

  if (progress.state.scene >= flow.scenes.length) {
    status.phase = "done";
    return showMessage("Study complete", "You have already completed this study. Thank you!");
  }
  document.addEventListener("gymcast:scene-shown", () => status.phase === "loading" && (status.phase = "scene"));
  for (let index = progress.state.scene; index < flow.scenes.length; index += 1) {
    const scene = flow.scenes[index];
    $("scene").replaceChildren(); // no control of the previous scene stays clickable while this one loads
    Object.assign(status, { scene: scene.name, phase: "loading" });
    log({ type: "scene_start", index, kind: scene.kind });
    const outcome = await runScene(scene, { manifest, bridge, progress, log, registration, apiBase, baseUrl, phaser });
    log({ type: "scene_end", index, kind: scene.kind });
    if (outcome?.kind === "timeout") return endWithoutPartner(outcome, log);
    progress.update({ scene: index + 1 });
  }
  if (flow.scenes.at(-1).kind !== "completion") showMessage("All done", "Thank you! You can close this page.");
  status.phase = "done";
}

async function runScene(scene, context) {
  const { progress, log } = context;
  if (scene.kind === "page") return runPage(scene);
  if (scene.kind === "consent") return log({ type: "consent", ...(await runConsent(scene)) });
  if (scene.kind === "survey") {
    const saved = progress.state.answers[scene.name] ?? {};
    const answers = await runSurvey(scene, saved, (partial) => {
      progress.update({ answers: { ...progress.state.answers, [scene.name]: partial } });
    });
    return log({ type: "survey", answers });
  }
  if (scene.kind === "completion") {
    log({ type: "completion" });
    completed = true;
    status.phase = "done";
    // A static-only bundle ships its (public) code; otherwise the host hands it out once it stored the completion.
    const issued = scene.has_code && !scene.code ? await issuedCode(context) : {};
    return runCompletion({ ...scene, ...issued }, () => flushed(5000));
  }
  return runGame(scene, context);
}

/** The completion code and redirect from the host, which answers once the outbox has delivered the completion event. */
async function issuedCode({ manifest, registration, apiBase }) {
  $("scene").replaceChildren(Object.assign(document.createElement("p"), { textContent: "Saving your answers…" }));
  const session = await registration;
  outbox.flush();
  return requestCompletionCode(apiBase, session, manifest.contracts.log_schema);
}

/** No partner came and the study ends here: the partial-completion code (and redirect) the study set. */
async function endWithoutPartner(outcome, log) {
  log({ type: "completion", code: outcome.code, partial: true, reason: "no partner" });
  completed = true;
  status.phase = "done";
  $("game").hidden = true;
  if (!outcome.code) return showMessage("No partner was found", "Thank you for waiting. You can close this page.");
  await runCompletion({ code: outcome.code, redirect: outcome.redirect || null, redirect_after_s: 5 }, () => flushed(5000));
}

/**
 * The study's code raised (`crash`, from the worker): log an `error` event, which ends the session, and show the
 * error page once the host stored it (or said nothing for ERROR_ACK_WAIT_MS: the event waits in this browser).
 */
async function endByError(crash, context) {
  const seq = context.log({ ...crash, type: "error" });
  completed = true;
  $("game").hidden = true;
  const ended = { stage: crash.stage, episode: crash.episode ?? null, step: crash.step ?? null, seq };
  context.progress.update({ ended_by_error: ended });
  Object.assign(status, { phase: "stopping", error: crash.message });
  showMessage("The game stopped", "Saving what you did so far…");
  await showEnding(ended, context);
}

/** The error page of a session that ended by an error (again after a reload): the code once the host stored it. */
async function showEnding(ended, { manifest, registration, apiBase }) {
  const deadline = Date.now() + ERROR_ACK_WAIT_MS;
  while (!outbox.acknowledged(ended.seq) && Date.now() < deadline) {
    outbox.flush();
    await sleep(100);
  }
  const stored = outbox.acknowledged(ended.seq);
  const ending = manifest.flow.on_error ?? { code: null, redirect: null, contact: "" };
  let issued = { code: ending.code, redirect: ending.redirect }; // static-only: the (public) code is in the manifest
  if (stored && ending.has_code) {
    const asked = registration.then((session) =>
      requestCompletionCode(apiBase, session, manifest.contracts.log_schema, "error"));
    issued = await Promise.race([asked, sleep(Math.max(deadline - Date.now(), 2000)).then(() => ({}))]).catch(() => ({}));
  }
  showErrorEnding({ stored, code: issued.code, redirect: issued.redirect, contact: ending.contact,
                    codeExpected: Boolean(ending.has_code) });
  Object.assign(status, { phase: "error", ended_by_error: { ...ended, logged: stored, code: issued.code ?? null } });
}

/** A game scene: wait for the worker, show Start, play the scene's episodes (resuming after a reload). */
async function runGame(scene, { manifest, bridge, progress, log, registration, apiBase, baseUrl, phaser }) {
  const key = scene.game_keys[scene.use_condition ? progress.state.condition : ""];
  const config = manifest.games[key];
  const startEpisode = progress.state.episodes_done[scene.name] ?? 0;
  Object.assign(status, { episode: startEpisode, step: 0, in_episode: false, paused: false });
  $("scene").hidden = true;
  $("loading").hidden = false;
  await bridge.ready;
  showProgress(1, "Preparing the game…");
  await Promise.race([bridge.warmed, sleep(WARM_UP_WAIT_MS)]); // a warm-up error stops the page before Start
  if (bridge.crashed) return new Promise(() => {}); // the error page has taken over
  $("loading").hidden = true;
  $("game").hidden = false;
  view?.destroy?.();
  view = config.rendering.objects_fn
    ? await ObjectView.create(await phaser, $("screen"), config.rendering, (path) => new URL(path, baseUrl).href)
    : new FrameView($("screen"), config.rendering.width, config.rendering.height);
  const overlay = new Overlay($("overlay"));
  showControls(config, (message) => bridge.worker.postMessage(message));
  showPointerInput(config, (message) => bridge.worker.postMessage(message));
  const total = config.gameplay.num_episodes;
  const finished = new Promise((resolve) => {
    bridge.game = {
      done: resolve,
      onNet: (message) => onNetMessage(message, overlay),
      onEvent: (event) => {
        log(event);
        onGameEvent(event, overlay, total);
        if (event.type === "episode_end" && !event.restarted) {
          progress.update({ episodes_done: { ...progress.state.episodes_done, [scene.name]: event.episode + 1 } });
        }
      },
    };
  });
  if (startEpisode >= total) return;
  status.phase = "ready";
  const left = total - startEpisode;
  await overlay.show(`${left} episode${left === 1 ? "" : "s"} to play.`, "Start");
  overlay.hide();
  status.phase = "playing";
  const relay = config.multiplayer ? await relayAccess(registration, apiBase) : null;
  bridge.worker.postMessage({ type: "start", scene: scene.name, key, config, startEpisode, relay,
                              visible: document.visibilityState === "visible" });
  const outcome = await finished;
  bridge.game = null;
  if (!outcome) overlay.show("Scene complete.");
  return outcome;
}

/** What the worker needs to join the relay: its URL and this session's token (networked games need the host). */
async function relayAccess(registration, apiBase) {
  const session = await registration.catch((error) => {
    throw new Error(`this game pairs you with other participants through the study's host, which could not be reached (${error.message})`);
  });
  return { url: `${apiBase.replace(/^http/, "ws")}/api/v1/relay`, session_id: session.session_id, token: session.token };
}

const PARTNER_NOTES = {
  fallback: "Your partner lost their connection. The computer plays for them until they come back.",
  absent: "Your partner lost their connection. Waiting for them to come back…",
  human: "",
};
const END_REASONS = {
  partner_left: "Your partner did not come back, so this game has ended.",
  seat_taken: "You were away too long; this game went on without you.",
  group_ended: "This game has already ended.",
  everyone_left: "Everyone else has left this game.",
};

/** Networked play as the participant sees it: the waiting room, partner dropouts, a rejoin. */
function onNetMessage(message, overlay) {
  status.net = { ...(status.net ?? {}), phase: message.what };
  if (message.what === "waiting") {
    status.net.waited_s = message.waited_s;
    overlay.show(`Waiting for a partner… ${Math.round(message.waited_s)} s`);
  } else if (message.what === "matched") {
    Object.assign(status.net, { seat: message.seat, group_id: message.group_id, input_delay: message.input_delay, partner: "human" });
    overlay.show(message.rejoin ? "Reconnecting to your game…" : "Partner found!");
  } else if (message.what === "rejoined") {
    overlay.hide();
  } else if (message.what === "alone") {
    overlay.show("No partner is available right now; you will play with a computer partner.");
  } else if (message.what === "seat") {
    status.net.partner = message.abandoned ? `${message.controller} (for good)` : message.controller;
    $("net-note").textContent = message.abandoned && message.controller === "fallback"
      ? "Your partner has left. The computer plays for them." : PARTNER_NOTES[message.controller] ?? "";
  } else if (message.what === "ended") {
    status.net.ended = message.reason;
    $("net-note").textContent = END_REASONS[message.reason] ?? "";
  }
}

function onGameEvent(event, overlay, total) {
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
  if (event.type === "episode_end" && !event.restarted && event.episode + 1 < total) {
    overlay.show(`Episode ${event.episode + 1} of ${total} complete`);
  }
  $("hud-episode").textContent = `Episode ${status.episode + 1} / ${total}`;
  $("hud-step").textContent = `Step ${status.step}`;
}

/** Show the participant controls the game enables, and send their clicks to the worker. */
function showControls(config, send) {
  const enabled = config.controls ?? {};
  for (const element of document.querySelectorAll("[data-control]")) element.hidden = !enabled[element.dataset.control];
  $("feedback-good").onclick = () => send({ type: "feedback", value: "good" });
  $("feedback-bad").onclick = () => send({ type: "feedback", value: "bad" });
  $("pause").onclick = () => send({ type: status.paused ? "resume" : "pause" });
  $("restart").onclick = () => send({ type: "restart" });
  $("fps-down").onclick = () => send({ type: "fps", fps: (status.fps ?? config.rendering.fps) - 5 });
  $("fps-up").onclick = () => send({ type: "fps", fps: (status.fps ?? config.rendering.fps) + 5 });
}

/** Canvas clicks and taps go to the worker (games with a click_fn); touch devices get a button per key. */
function showPointerInput(config, send) {
  status.turn = null;
  $("turn-note").textContent = "";
  $("turn-note").hidden = $("notice").hidden = config.gameplay.input_mode !== "turns";
  stopClicks?.();
  stopClicks = config.rendering.click_fn
    ? captureClicks($("screen"), config.rendering.width, config.rendering.height, (x, y) => send({ type: "click", x, y }))
    : null;
  const keys = Object.values(config.players).flatMap((player) => Object.keys(player.keys ?? {}).flatMap(chordKeys));
  showKeyButtons($("touch-keys"), isTouchDevice() ? [...new Set(keys)] : [], keyboard);
}
let stopClicks = null;

/** Turn-based play: say whose move it is. */
function showTurn(turn) {
  status.turn = { to_move: turn.to_move, controller: turn.controller, yours: turn.yours, step: turn.step };
  const who = turn.to_move.join(" and ");
  $("turn-note").textContent = turn.yours ? `Your turn (${who})`
    : turn.controller === "ai" ? `The computer (${who}) is thinking…` : `Waiting for ${who} to move…`;
  showNotice("");
}

let noticeTimer;
/** A short note under the game (a refused move); it fades after a few seconds. */
function showNotice(text) {
  if (text) status.notice = { text, at: Date.now() };
  $("notice").textContent = text;
  clearTimeout(noticeTimer);
  if (text) noticeTimer = setTimeout(() => ($("notice").textContent = ""), 3000);
}

function allKeys(manifest) {
  const players = Object.values(manifest.games).flatMap((config) => Object.values(config.players));
  return new Set(players.flatMap((player) => Object.keys(player.keys ?? {}).flatMap(chordKeys)));
}

function showProgress(fraction, label) {
  $("loading-bar").style.width = `${Math.round(fraction * 100)}%`;
  $("loading-label").textContent = label;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const randomHex = () => crypto.randomUUID().replaceAll("-", "");

/** Wait until the outbox is empty, or `timeoutMs` passed. */
async function flushed(timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (outbox.pending() > 0 && Date.now() < deadline) {
    outbox.flush();
    await sleep(100);
  }
}

boot().catch((error) => fail(error.message));
