// The worker: Pyodide, the env loop at a fixed rate, and frames for the main thread.
// Messages in:  {type: "init", manifest, baseUrl} | {type: "start", scene, key, game, startEpisode, relay?, visible}
//               | {type: "key", key, down, t}
//               | {type: "page", what} | {type: "feedback", value} | {type: "pause"} | {type: "resume"}
//               | {type: "restart"} | {type: "fps", fps}
// Messages out: {type: "progress", fraction, label} | {type: "ready", boot_ms, python_snapshot} | {type: "event", event}
//               | {type: "frame", bitmap, episode, step} | {type: "objects", json, period_ms, episode, step} | {type: "net", what, ...} | {type: "done", outcome?} | {type: "error", message}
// A networked game (game.multiplayer, with a relay) plays in lockstep; see netplay.js.

import { KeyState, chooseAction } from "./input.js";
import { NetPlay } from "./netplay.js";
import { startPython } from "./snapshot.js";

const PAUSE_BETWEEN_EPISODES_MS = 1500;
const WARM_UP_STEPS = 30; // per game, played on a throwaway env before Start (see warmUp)
const keys = new KeyState();
let game;
let session;
let run;
let pyodide;
const sessions = new Map(); // game key -> GameSession, one per game config the flow runs
const bootTimes = {}; // loading stage -> ms: download, policies, python, install, import, total
let policies = null; // {ort, sessions: Map(model path -> InferenceSession)} when the bundle has ONNX players
let warming = null; // {stop, done: Promise} while the games warm up after loading

const post = (message, transfer = []) => self.postMessage(message, transfer);
const emit = (event) => post({ type: "event", event });
/** A JSON-able JS value (a game config, say) as the Python value `json.loads` makes of it. */
const fromJson = (value) => pyodide.pyimport("json").loads(JSON.stringify(value));
const progress = (fraction, label) => post({ type: "progress", fraction, label });
const fail = (error) => post({ type: "error", message: String(error?.message ?? error) });
/** `fn` wrapped so an exception (e.g. from the env or a callback) reaches the page as an error. */
const guarded = (fn) => (...args) => {
  const stop = (error) => {
    if (run) clearTimeout(run.timer);
    fail(error);
  };
  try {
    const result = fn(...args);
    if (result instanceof Promise) result.catch(stop);
    return result;
  } catch (error) {
    stop(error);
  }
};

self.onmessage = async ({ data }) => {
  try {
    if (data.type === "init") await init(data.manifest, data.baseUrl);
    else if (data.type === "start") guarded(startRun)(data);
    else if (data.type === "key") onKey(data);
    else if (data.type === "page") guarded(onPage)(data.what);
    else if (run && data.type in controls) guarded(controls[data.type])(data);
  } catch (error) {
    fail(error);
  }
};

async function init(manifest, baseUrl) {
  const initStarted = performance.now();
  const url = (path) => new URL(path, baseUrl).href;
  const indexURL = url(manifest.pyodide.index_url);
  const lockFileURL = url(manifest.pyodide.lock_url);
  progress(0.02, "Loading Python…");
  // Fetch the wheels while Pyodide boots; loadPackage then takes them from the HTTP cache.
  const wheels = Object.entries(manifest.files).filter(([path]) => path.endsWith(".whl") && !path.startsWith("full/"));
  const downloads = stage("download", "downloading the packages", () =>
    prefetch(wheels.map(([path, file]) => ({ url: url(path), size: file.size }))));
  const policiesReady = manifest.ort
    ? stage("policies", `loading the AI policies (onnxruntime-web ${manifest.ort.version})`, () => loadPolicies(manifest, url))
    : Promise.resolve(null);
  const started = await stage("python", `starting Python (Pyodide ${manifest.pyodide.version} from ${indexURL}, lock ${lockFileURL})`,
    async () => {
      const { loadPyodide } = await import(indexURL + "pyodide.mjs");
      return startPython(loadPyodide, {
        indexURL, lockFileURL, env: { PYTHONHASHSEED: "0" },
        stdout: (line) => console.log(line), stderr: (line) => console.warn(line),
      });
    });
  pyodide = started.pyodide;
  await downloads;
  policies = await policiesReady;
  progress(0.9, "Installing packages…");
  await stage("install", "installing the Python packages", async () => {
    const errors = [];
    await pyodide.loadPackage(manifest.packages, { messageCallback: () => {}, errorCallback: (m) => errors.push(m) });
    if (errors.length) throw new Error(errors.join("\n"));
  });
  installPrunedFinder(manifest, url);
  progress(0.97, "Starting the environment…");
  // Import the heavy modules now, while the participant reads, so Start shows a frame at once:
  // numpy, gymnasium, and every module the games name (env creators, drawing functions).
  const refs = Object.values(manifest.games).flatMap((config) =>
    [config.env.creator, config.rendering.frame_fn, config.rendering.objects_fn].filter(Boolean));
  const modules = [...new Set(refs.map((ref) => ref.split(":")[0]))];
  await stage("import", "importing the environment", () =>
    pyodide.pyimport("gymcast_runtime.loading").preload(pyodide.toPy(modules)));
  progress(1, "Ready");
  bootTimes.total = round(performance.now() - initStarted);
  post({ type: "ready", boot_ms: bootTimes, python_snapshot: started.snapshot });
  warming = warmUp(manifest.games);
}

/** While the participant reads the Start screen, make each game's session, then play each game briefly
 *  on a throwaway env, models included, so the first real steps are not late: V8 tiers up the wasm
 *  they use, Python fills its caches. One piece per task, so Start is handled at once (see
 *  stopWarmUp); logs a `warm_up` event. */
function warmUp(games) {
  const state = { stop: false };
  const nextTask = () => new Promise((resolve) => setTimeout(resolve, 0));
  state.done = (async () => {
    const started = performance.now();
    let warm = null;
    let error = null;
    try {
      for (const [key, config] of Object.entries(games)) {
        if (state.stop) break;
        gameSession(key, config);
        await nextTask();
      }
      const configs = fromJson(Object.values(games));
      warm = pyodide.pyimport("gymcast_runtime.loading").WarmUp(configs, WARM_UP_STEPS);
      configs.destroy();
      const nextStep = () => (state.stop ? null : warm.step_json()); // null once every game has warmed up
      for (let requests = nextStep(); requests != null; requests = nextStep()) {
        const batch = JSON.parse(requests);
        if (policies && batch.length) await runPolicies(batch);
        await nextTask();
      }
    } catch (failure) { // the real run reports an env that fails; the warm-up only says so
      error = String(failure?.message ?? failure).slice(-2000);
      console.warn("gymcast: warming up the game failed", failure);
    }
    emit({ type: "warm_up", steps: warm?.steps_played ?? 0, ms: round(performance.now() - started),
           stopped_by_start: state.stop, ...(error && { error }) });
    warm?.destroy();
  })();
  return state;
}

/** End the warm-up (at most one step away) before a run starts: the models never run twice at once. */
async function stopWarmUp() {
  if (!warming) return;
  warming.stop = true;
  await warming.done;
}

/** A slim bundle left unimported modules out: fetch their full archive if the game ever needs one. */
function installPrunedFinder(manifest, url) {
  const fetchSync = (path) => { // a worker may block on a request; Python's import is synchronous
    const failed = (why) => new Error(`could not fetch ${path} for a module the slim bundle left out (${why}). `
      + "Fix: list the module in .keep_modules() and rebuild, so it ships and needs no network");
    const request = new XMLHttpRequest();
    request.open("GET", url(path), false);
    request.responseType = "arraybuffer";
    try {
      request.send();
    } catch (error) { // offline, say
      throw failed(String(error?.message ?? error));
    }
    if (request.status !== 200) throw failed(`HTTP ${request.status}`);
    return new Uint8Array(request.response);
  };
  const report = (module, archive) => {
    console.warn(`gymcast: ${module} was not in the slim bundle; loaded it from ${archive} (.keep_modules("${module}") ships it)`);
    emit({ type: "pruned_module", module, archive });
  };
  pyodide.pyimport("gymcast_runtime.pruned").install(pyodide.toPy(manifest.pruned ?? []), fetchSync, report);
}

/** Import onnxruntime-web (its wasm self-hosted in the bundle) and open every ONNX player's model. */
async function loadPolicies(manifest, url) {
  const ort = await import(url(manifest.ort.base + manifest.ort.module));
  ort.env.wasm.wasmPaths = url(manifest.ort.base);
  ort.env.wasm.numThreads = 1; // no cross-origin isolation needed; small models are fast single-threaded
  const models = new Map();
  for (const config of Object.values(manifest.games)) {
    const fallbacks = Object.values(config.multiplayer?.fallbacks ?? {}); // they stand in for absent people
    for (const player of [...Object.values(config.players), ...fallbacks]) {
      if (player.type === "onnx" && !models.has(player.model)) {
        models.set(player.model, await ort.InferenceSession.create(url(player.model), { executionProviders: ["wasm"] }));
      }
    }
  }
  return { ort, sessions: models };
}

/** Run the ONNX requests of this step; answers {outputs: {agent: {name: {shape, data}}}, ms}. */
async function runPolicies(requests) {
  const started = performance.now();
  const outputs = {};
  for (const request of requests) {
    const feeds = {};
    for (const [name, tensor] of Object.entries(request.feeds)) {
      feeds[name] = new policies.ort.Tensor("float32", Float32Array.from(tensor.data), tensor.shape);
    }
    const results = await policies.sessions.get(request.model).run(feeds);
    outputs[request.agent] = Object.fromEntries(
      Object.entries(results).map(([name, tensor]) => [name, { shape: tensor.dims, data: Array.from(tensor.data) }]));
  }
  return { outputs, ms: performance.now() - started };
}

/** Run one loading stage and time it (`bootTimes[key]` in ms); a failure names the stage and keeps the message. */
async function stage(key, label, work) {
  const started = performance.now();
  try {
    return await work();
  } catch (error) {
    throw new Error(`${label} failed: ${error?.message ?? error}`);
  } finally {
    bootTimes[key] = round(performance.now() - started);
  }
}

/** Download files in parallel, reporting progress between 2% and 90% by bytes received. */
async function prefetch(files) {
  const total = files.reduce((sum, file) => sum + file.size, 0) || 1;
  let received = 0;
  await Promise.all(files.map(async (file) => {
    const response = await fetch(file.url);
    if (!response.ok) throw new Error(`could not download ${file.url}: HTTP ${response.status}`);
    const reader = response.body.getReader();
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
      received += chunk.value.byteLength;
      progress(0.02 + 0.88 * (received / total), "Downloading…");
    }
  }));
}

function onKey({ key, down, t }) {
  down ? keys.press(key) : keys.release(key);
  if (run) emit({ type: "key", key, down, key_time: t, episode: run.episode, step: run.step });
}

function onPage(what) {
  if (run?.net && (what === "visible" || what === "hidden")) run.net.setVisible(what === "visible");
  const custom = session ? JSON.parse(session.page_json(what)) : {};
  emit({ type: "page", what, episode: run?.episode, step: run?.step, ...custom });
}

/** Participant controls; each is logged. Ticks check `run.generation` so none runs for a stale episode. */
const controls = {
  feedback({ value }) {
    const delivered = JSON.parse(session.feedback_json(value));
    emit({ type: "feedback", value, episode: run.episode, step: run.step, ...delivered });
  },
  pause() {
    if (run.paused || !run.inEpisode) return;
    run.paused = true;
    run.generation += 1;
    clearTimeout(run.timer);
    emit({ type: "pause", episode: run.episode, step: run.step });
  },
  resume() {
    if (!run.paused) return;
    run.paused = false;
    emit({ type: "resume", episode: run.episode, step: run.step });
    schedule(run.periodMs);
  },
  restart() {
    if (!run.inEpisode) return;
    run.generation += 1;
    clearTimeout(run.timer);
    run.paused = false;
    emit({ type: "episode_end", episode: run.episode, step: run.step, steps: run.step, returns: run.returns,
           terminated: false, truncated: false, restarted: true, attempt: run.attempt });
    run.attempt += 1;
    beginEpisode();
  },
  fps({ fps }) {
    const [low, high] = game.controls?.fps_range ?? [game.rendering.fps, game.rendering.fps];
    const clamped = Math.min(high, Math.max(low, Math.round(fps)));
    run.periodMs = 1000 / clamped;
    emit({ type: "fps", fps: clamped, episode: run.episode, step: run.step });
  },
};

function schedule(delayMs) {
  run.nextTick = performance.now() + delayMs;
  const generation = run.generation;
  run.timer = setTimeout(guarded(() => tick(generation)), delayMs);
}

/** Start a game scene: its own GameSession, from `startEpisode` (an episode cut by a reload restarts). */
async function startRun({ scene, key, game: config, startEpisode = 0, relay = null, visible = true }) {
  await stopWarmUp();
  if (config.multiplayer && relay) {
    prepareRun(key, config, null, startEpisode);
    run.net = new NetPlay({ scene, key, relay, visible, hooks: netHooks });
    return;
  }
  prepareRun(key, config, config.gameplay.seed ?? randomSeed(), startEpisode);
  beginRun(scene, key);
}

/** Choose the game and its GameSession (one per config, kept across scenes), and reset the run. */
function prepareRun(key, config, seed, startEpisode) {
  game = config;
  session = gameSession(key, config);
  const humans = Object.entries(game.players).filter(([, player]) => player.type === "human");
  run = {
    baseSeed: seed, episode: startEpisode, attempt: 0, step: 0, humans, periodMs: 1000 / game.rendering.fps, timer: null,
    generation: 0, paused: false, inEpisode: false, net: null,
  };
}

/** The GameSession of game `key` (one per config, kept across scenes), made on first use. */
function gameSession(key, config) {
  if (!sessions.has(key)) {
    const { GameSession } = pyodide.pyimport("gymcast_runtime");
    sessions.set(key, GameSession(fromJson(config)));
  }
  return sessions.get(key);
}

function beginRun(scene, key, extra = {}) {
  emit({
    type: "run_start", scene, game: key, base_seed: run.baseSeed, num_episodes: game.gameplay.num_episodes,
    fps: game.rendering.fps, start_episode: run.episode, ...extra,
  });
  beginEpisode();
}

const randomSeed = () => crypto.getRandomValues(new Uint32Array(1))[0] % (2 ** 31 - 10_001);

function beginEpisode() {
  const seed = run.baseSeed + run.episode;
  const reset = JSON.parse(session.reset_json(seed, run.episode));
  run.step = 0;
  run.returns = Object.fromEntries(Object.keys(game.players).map((agent) => [agent, 0]));
  run.inEpisode = true;
  emit({ type: "episode_start", episode: run.episode, attempt: run.attempt, seed, ...reset });
  run.net?.episodeStarted(run.episode);
  sendFrame();
  schedule(run.periodMs);
}

/** This step's actions from the keyboard: {actions, used} for every human agent. */
function localInput() {
  const actions = {};
  const used = {};
  for (const [agent, player] of run.humans) {
    const choice = chooseAction(agent, player, keys, game.gameplay.input_mode);
    actions[agent] = choice.action;
    used[agent] = choice.key;
  }
  return { actions, used, extra: {} };
}

async function tick(generation) {
  const lateMs = performance.now() - run.nextTick + (run.behindMs ?? 0);
  run.behindMs = 0;
  const input = run.net ? await run.net.input(run.step + 1, generation) : localInput();
  if (!input || generation !== run.generation) return; // waiting for a partner's action, or paused/restarted
  const requests = policies ? JSON.parse(session.policy_requests_json()) : [];
  const inference = requests.length ? await runPolicies(requests) : { outputs: {}, ms: 0 };
  if (generation !== run.generation) return; // paused or restarted while the models ran
  const started = performance.now();
  const result = JSON.parse(session.step_json(JSON.stringify(input.actions), JSON.stringify(inference.outputs)));
  const stepMs = performance.now() - started;
  run.step = result.step;
  for (const [agent, reward] of Object.entries(result.rewards)) run.returns[agent] += reward;
  emit({
    type: "step", episode: run.episode, actions: input.actions, ...result,
    keys: input.used, held: [...keys.pressed], step_ms: round(stepMs), late_ms: round(Math.max(0, lateMs)), ...input.extra,
    ...(policies && { policy_agents: requests.map((r) => r.agent), policy_ms: round(inference.ms) }),
  });
  run.net?.stepped(run.episode, result);
  sendFrame();
  if (result.terminated || result.truncated) return endEpisode(result);
  run.nextTick += run.periodMs;
  const now = performance.now();
  if (now - run.nextTick > 5 * run.periodMs) { // fell far behind: do not burst, but log the next step as late
    run.behindMs = now - run.nextTick;
    run.nextTick = now;
  }
  run.timer = setTimeout(guarded(() => tick(generation)), Math.max(0, run.nextTick - now));
}

function endEpisode(result) {
  const custom = JSON.parse(session.end_episode_json(JSON.stringify(run.returns)));
  run.inEpisode = false;
  emit({
    type: "episode_end", episode: run.episode, step: run.step, steps: run.step, returns: run.returns,
    terminated: result.terminated, truncated: result.truncated, attempt: run.attempt, ...custom,
  });
  run.attempt = 0;
  nextEpisode();
}

/** After an episode: the next one after a pause, or the end of the run. */
function nextEpisode() {
  run.episode += 1;
  if (run.episode < game.gameplay.num_episodes) run.timer = setTimeout(guarded(beginEpisode), PAUSE_BETWEEN_EPISODES_MS);
  else endRun();
}

/** The run is over: every episode played, or (networked) the group ended for `reason`. */
function endRun(reason = null, outcome = null) {
  clearTimeout(run.timer);
  run.generation += 1;
  run.inEpisode = false;
  emit({ type: "run_end", episodes: run.episode, ...(reason && { ended: reason }) });
  run.net?.finish();
  post({ type: "done", outcome });
}

/** What the networked-play module may do to the run (see netplay.js). */
const netHooks = {
  emit,
  post,
  session: () => session,
  game: () => game,
  run: () => run,
  keys,
  runPolicies,
  /** Matched: play the group's episodes from the group's seed. */
  begin(scene, key, seed, extra) {
    run.baseSeed = seed;
    run.episode = 0;
    beginRun(scene, key, extra);
  },
  /** No partner came: play alone, the other seats taken by their fallbacks (a config of its own). */
  playAlone(scene, key, config, extra) {
    prepareRun(`${key}:alone`, config, config.gameplay.seed ?? randomSeed(), 0);
    beginRun(scene, key, extra);
  },
  /** Continue from a restored state at (episode, step). */
  resume(episode, step, returns, episodeOver) {
    Object.assign(run, { episode, step, returns: { ...run.returns, ...returns }, inEpisode: !episodeOver });
    run.generation += 1;
    clearTimeout(run.timer);
    sendFrame();
    if (!episodeOver) return schedule(run.periodMs);
    nextEpisode();
  },
  /** A partner's action arrived while the loop waited for it. */
  wake() {
    const generation = run.generation;
    run.nextTick = Math.max(run.nextTick, performance.now());
    guarded(() => tick(generation))();
  },
  end: endRun,
  guarded,
};

function sendFrame() {
  if (game.rendering.objects_fn) {
    post({ type: "objects", json: session.objects_json(), period_ms: run.periodMs, episode: run.episode, step: run.step });
    return;
  }
  const frame = session.frame_bytes();
  const [height, width, channels, bytes] = frame.toJs();
  frame.destroy();
  const pixels = channels === 4 ? new Uint8ClampedArray(bytes.buffer, bytes.byteOffset, bytes.byteLength) : rgbToRgba(bytes);
  const { episode, step } = run;
  createImageBitmap(new ImageData(pixels, width, height)).then((bitmap) => post({ type: "frame", bitmap, episode, step }, [bitmap]));
}

function rgbToRgba(rgb) {
  const rgba = new Uint8ClampedArray((rgb.length / 3) * 4);
  for (let from = 0, to = 0; from < rgb.length; from += 3, to += 4) {
    rgba[to] = rgb[from];
    rgba[to + 1] = rgb[from + 1];
    rgba[to + 2] = rgb[from + 2];
    rgba[to + 3] = 255;
  }
  return rgba;
}

const round = (ms) => Math.round(ms * 1000) / 1000;
