// @ts-check
// A run: one game scene's episodes at the game's rate. It owns the schedule (one tick per step), the
// episodes and the participant controls (pause, resume, restart, fps, feedback). A networked game
// (config.multiplayer, with a relay) plays in lockstep through a NetPlay (netplay.js), which drives the
// run only through the methods under "For NetPlay" below.
//
// Turn-based games (gameplay.input_mode "turns") have no fixed rate: each step waits for the player
// to move (Python's `turn`). A human's move is a key press or a click (queued in `moves` only while a
// human of this browser is to move; otherwise it is logged as an `illegal_move`, "not_your_turn");
// an AI moves `ai_think_ms` after its turn begins. Networked, NetPlay.turnInput gathers the step.

import { frameBitmap } from "./frames.js";
import { chooseAction } from "./input.js";
import { NetPlay } from "./netplay.js";
import { round } from "./timing.js";

const PAUSE_BETWEEN_EPISODES_MS = 1500;

/** @typedef {import("./protocol.js").PageChannel} PageChannel */
/** @typedef {import("./protocol.js").RelayAccess} RelayAccess */
/** @typedef {import("./protocol.js").Outcome} Outcome */
/** @typedef {import("./loading.js").Loaded} Loaded */
/** @typedef {import("./input.js").KeyState} KeyState */

/**
 * `fn` wrapped so that an exception it throws, or a promise it returns that rejects, goes to `onError`.
 * @template {any[]} A
 * @param {(...args: A) => any} fn @param {(error: unknown) => void} onError @returns {(...args: A) => any}
 */
export const guarded = (fn, onError) => (...args) => {
  try {
    const result = fn(...args);
    if (result instanceof Promise) result.catch(onError);
    return result;
  } catch (error) {
    onError(error);
  }
};

export class Run {
  /**
   * @param {object} options
   * @param {string} options.scene the scene's name
   * @param {string} options.key the game config's key in `manifest.games`
   * @param {any} options.config that game config
   * @param {number} options.startEpisode the first episode to play (an episode cut by a reload restarts)
   * @param {Loaded} options.loaded the games' Python side, the policies, the contracts
   * @param {KeyState} options.keys the keys held now
   * @param {PageChannel} options.page
   */
  constructor({ scene, key, config, startEpisode, loaded, keys, page }) {
    this.scene = scene;
    this.key = key;
    this.loaded = loaded;
    this.keys = keys;
    this.page = page;
    /** @type {ReturnType<typeof setTimeout> | undefined} the next tick (or episode) */
    this.timer = undefined;
    this.#use(key, config, null, startEpisode);
  }

  /**
   * Play: at once, or (networked) once the waiting room has matched a group.
   * @param {RelayAccess | null} relay @param {boolean} visible
   */
  start(relay, visible) {
    if (this.config.multiplayer && relay) {
      const { key, config, game, keys, page } = this;
      this.net = new NetPlay({ run: this, key, config, game, keys, page, relay, visible,
                               policies: this.loaded.policies, relaySchema: this.loaded.contracts.relay_schema });
      return;
    }
    this.baseSeed = this.config.gameplay.seed ?? this.#randomSeed();
    this.#begin();
  }

  /** `fn` wrapped so an exception (from the env or a callback, say) stops the loop and reaches the page. */
  guard(fn) {
    return guarded(fn, (error) => {
      this.stop();
      this.page.crash(error, this.where());
    });
  }

  /** @returns {import("./protocol.js").CrashPlace} where the run is: the step being played, or the last one */
  where() {
    return { stage: "play", episode: this.episode, ...(this.playing ?? { step: this.step }) };
  }

  /** Stop the loop (after an error). */
  stop() {
    clearTimeout(this.timer);
  }

  /** Play game config `config` (its WorkerGame under `gameKey`) from `baseSeed`, episode `episode`, afresh. */
  #use(gameKey, config, baseSeed, episode) {
    this.config = config;
    this.game = this.loaded.games.get(gameKey, config);
    this.humans = Object.entries(config.players).filter(([, player]) => player.type === "human");
    this.baseSeed = baseSeed;
    this.episode = episode;
    this.attempt = 0; // restarts of this episode
    this.step = 0;
    /** @type {Record<string, number>} agent -> return so far this episode */
    this.returns = {};
    this.periodMs = 1000 / config.rendering.fps;
    this.nextTick = 0; // performance.now() at which the next step is due
    this.behindMs = 0; // how late the loop was when it last gave up catching up
    this.generation = 0; // bumped by pause, restart, resume from a state, end: ticks of older ones stop
    this.paused = false;
    this.inEpisode = false;
    /** @type {NetPlay | null} */
    this.net = null;
    this.turns = config.gameplay.input_mode === "turns";
    /** @type {{agent: string, action: any, key: string}[]} moves of this browser's humans, waiting to be used */
    this.moves = [];
    /** @type {string[]} the humans of this browser to move now ([] while nobody here may move) */
    this.localMovers = [];
    this.announced = -1; // the step whose turn was last announced
    this.thinkingSince = null; // performance.now() when the AI to move began thinking
    /** @type {{step: number, actions?: Record<string, any>} | null} the step being played (for `where`) */
    this.playing = null;
  }

  /** A base seed in [0, max_base_seed], so every episode's seed (base + episode) stays a valid seed. */
  #randomSeed() {
    return crypto.getRandomValues(new Uint32Array(1))[0] % (this.loaded.contracts.max_base_seed + 1);
  }

  #emit(event) {
    this.page.event(event);
  }

  // ---- the page's messages ------------------------------------------------------------------

  onKey(key, down, t) {
    this.#emit({ type: "key", key, down, key_time: t, episode: this.episode, step: this.step });
    if (!this.turns || !down) return;
    this.keys.strokes = []; // turn-based play takes moves from `moves`, not keystrokes
    const agent = this.localMovers.find((name) => key in this.config.players[name].keys)
      ?? Object.keys(this.config.players).find((name) => key in (this.config.players[name].keys ?? {}));
    if (agent !== undefined) this.#offerMove(agent, this.config.players[agent].keys[key], key);
  }

  /** A click or tap on the canvas at canvas pixel (x, y): the experiment's click_fn makes it a move, or nothing. */
  onClick(x, y) {
    const action = this.config.rendering.click_fn ? JSON.parse(this.game.click_json(x, y)) : null;
    this.#emit({ type: "click", x: round(x), y: round(y), action, episode: this.episode, step: this.step });
    if (action === null) return;
    if (this.turns) return this.#offerMove(this.localMovers[0] ?? this.humans[0]?.[0], action, "click");
    this.keys.clicks.push(action); // real time: the next step of this browser's first human takes it
  }

  /** A human's move in turn-based play: queued while one of this browser's humans is to move, else refused. */
  #offerMove(agent, action, key) {
    if (!this.inEpisode || this.paused) return;
    if (!this.localMovers.includes(agent)) return this.#refuse(agent, action, key, "not_your_turn");
    this.moves.push({ agent, action, key });
    this.wake();
  }

  /** Log a refused move (`illegal_move`), and have the page say so. */
  #refuse(agent, action, key, reason) {
    this.#emit({ type: "illegal_move", agent, action, key, reason, episode: this.episode, step: this.step });
    this.page.notice(reason === "not_your_turn" ? "It is not your turn." : "That move is not allowed.");
  }

  /** The oldest queued legal move of `agent` (illegal ones are refused and dropped), or undefined. */
  takeMove(agent) {
    while (this.moves.length) {
      const move = this.moves.shift();
      if (move.agent !== agent) continue;
      if (this.game.is_legal_json(agent, JSON.stringify(move.action))) return move;
      this.#refuse(agent, move.action, move.key, "illegal");
    }
    return undefined;
  }

  onPage(what) {
    if (this.net && (what === "visible" || what === "hidden")) this.net.setVisible(what === "visible");
    const custom = JSON.parse(this.game.page_json(what));
    this.#emit({ type: "page", what, episode: this.episode, step: this.step, ...custom });
  }

  // Participant controls; each is logged. Ticks check `generation` so none runs for a stale episode.

  feedback({ value }) {
    const delivered = JSON.parse(this.game.feedback_json(value));
    this.#emit({ type: "feedback", value, episode: this.episode, step: this.step, ...delivered });
  }

  pause() {
    if (this.paused || !this.inEpisode) return;
    this.paused = true;
    this.generation += 1;
    this.stop();
    this.#emit({ type: "pause", episode: this.episode, step: this.step });
  }

  resume() {
    if (!this.paused) return;
    this.paused = false;
    this.#emit({ type: "resume", episode: this.episode, step: this.step });
    this.#schedule(this.periodMs);
  }

  restart() {
    if (!this.inEpisode) return;
    this.generation += 1;
    this.stop();
    this.paused = false;
    this.#emit({ type: "episode_end", episode: this.episode, step: this.step, steps: this.step, returns: this.returns,
                 terminated: false, truncated: false, restarted: true, attempt: this.attempt });
    this.attempt += 1;
    this.#beginEpisode();
  }

  fps({ fps }) {
    const rendering = this.config.rendering;
    const [low, high] = this.config.controls?.fps_range ?? [rendering.fps, rendering.fps];
    const clamped = Math.min(high, Math.max(low, Math.round(fps)));
    this.periodMs = 1000 / clamped;
    this.#emit({ type: "fps", fps: clamped, episode: this.episode, step: this.step });
  }

  // ---- the loop -----------------------------------------------------------------------------

  #schedule(delayMs) {
    this.nextTick = performance.now() + delayMs;
    const generation = this.generation;
    this.timer = setTimeout(this.guard(() => this.#tick(generation)), delayMs);
  }

  #begin(extra = {}) {
    this.#emit({
      type: "run_start", scene: this.scene, game: this.key, base_seed: this.baseSeed,
      num_episodes: this.config.gameplay.num_episodes, fps: this.config.rendering.fps, start_episode: this.episode, ...extra,
    });
    this.#beginEpisode();
  }

  #beginEpisode() {
    const seed = this.baseSeed + this.episode;
    this.step = 0;
    this.playing = { step: 0 };
    const reset = JSON.parse(this.game.reset_json(seed, this.episode));
    this.playing = null;
    this.returns = Object.fromEntries(Object.keys(this.config.players).map((agent) => [agent, 0]));
    this.inEpisode = true;
    this.announced = -1;
    this.moves = [];
    this.#emit({ type: "episode_start", episode: this.episode, attempt: this.attempt, seed, ...reset });
    this.net?.episodeStarted(this.episode);
    this.#sendFrame();
    this.#schedule(this.periodMs);
  }

  /** This step's actions from the keyboard: {actions, used} for every human agent. */
  #localInput() {
    const actions = {};
    const used = {};
    for (const [agent, player] of this.humans) {
      const choice = chooseAction(agent, player, this.keys, this.config.gameplay.input_mode);
      actions[agent] = choice.action;
      used[agent] = choice.key;
    }
    return { actions, used, extra: {} };
  }

  async #tick(generation) {
    if (this.turns) return this.#turnTick(generation);
    const lateMs = performance.now() - this.nextTick + this.behindMs;
    this.behindMs = 0;
    const input = this.net ? await this.net.input(this.step + 1, generation) : this.#localInput();
    if (!input || generation !== this.generation) return; // waiting for a partner's action, or paused/restarted
    await this.#apply(input, generation, lateMs);
  }

  /**
   * One turn: announce who moves (logged as `turn`, shown by the page), then wait for a human of this
   * browser (woken by their move), a partner's move (networked), or an AI's thinking time.
   */
  async #turnTick(generation) {
    if (this.turnBusy) return void (this.again = true); // woken mid-turn: look again once this one is done
    this.turnBusy = true;
    try {
      await this.#turn(generation);
    } finally {
      this.turnBusy = false;
    }
    if (this.again && generation === this.generation) {
      this.again = false;
      this.timer = setTimeout(this.guard(() => this.#tick(generation)), 0);
    }
  }

  async #turn(generation) {
    this.again = false;
    const turn = JSON.parse(this.game.turn_json());
    const players = this.config.players;
    const humans = turn.to_move.filter((agent) => players[agent].type === "human");
    const seat = this.net?.seat;
    this.localMovers = this.net ? humans.filter((agent) => agent === seat) : humans;
    if (this.announced !== this.step) {
      this.announced = this.step;
      this.thinkingSince = humans.length ? null : performance.now();
      const controller = humans.length ? "human" : "ai";
      const yours = this.localMovers.length > 0;
      this.#emit({ type: "turn", to_move: turn.to_move, controller, yours, episode: this.episode, step: this.step });
      this.page.turn({ to_move: turn.to_move, controller, yours, episode: this.episode, step: this.step });
    }
    if (!humans.length) {
      const waitMs = (this.config.gameplay.ai_think_ms ?? 0) - (performance.now() - this.thinkingSince);
      if (waitMs > 0) return void (this.timer = setTimeout(this.guard(() => this.#tick(generation)), waitMs));
    }
    let input;
    if (this.net) input = await this.net.turnInput(this.step + 1, turn.to_move, generation);
    else {
      const actions = {}, used = {};
      for (const agent of humans) {
        const move = this.takeMove(agent);
        if (!move) return; // wait for this human's move (onKey / onClick wake the run)
        actions[agent] = move.action;
        used[agent] = move.key;
      }
      input = { actions, used, extra: {} };
    }
    if (!input || generation !== this.generation) return;
    this.localMovers = [];
    this.moves = [];
    await this.#apply(input, generation, 0);
  }

  /** Run one step with `input` ({actions, used, extra}) and log it; then the next tick, or the episode's end. */
  async #apply(input, generation, lateMs) {
    const policies = this.loaded.policies;
    this.playing = { step: this.step + 1, actions: input.actions };
    const requests = policies ? JSON.parse(this.game.policy_requests_json()) : [];
    const inference = requests.length ? await policies.run(requests) : { outputs: {}, ms: 0 };
    if (generation !== this.generation) return void (this.playing = null); // paused or restarted while the models ran
    const started = performance.now();
    const result = JSON.parse(this.game.step_json(JSON.stringify(input.actions), JSON.stringify(inference.outputs)));
    this.playing = null;
    const stepMs = performance.now() - started;
    this.step = result.step;
    for (const [agent, reward] of Object.entries(result.rewards)) this.returns[agent] += reward;
    this.#emit({
      type: "step", episode: this.episode, actions: input.actions, ...result,
      keys: input.used, held: [...this.keys.pressed], step_ms: round(stepMs), late_ms: round(Math.max(0, lateMs)), ...input.extra,
      ...(policies && { policy_agents: requests.map((r) => r.agent), policy_ms: round(inference.ms) }),
    });
    this.net?.stepped(this.episode, result);
    this.#sendFrame();
    if (result.terminated || result.truncated) return this.#endEpisode(result);
    if (this.turns) return void (this.timer = setTimeout(this.guard(() => this.#tick(generation)), 0));
    this.nextTick += this.periodMs;
    const now = performance.now();
    if (now - this.nextTick > 5 * this.periodMs) { // fell far behind: do not burst, but log the next step as late
      this.behindMs = now - this.nextTick;
      this.nextTick = now;
    }
    this.timer = setTimeout(this.guard(() => this.#tick(generation)), Math.max(0, this.nextTick - now));
  }

  #endEpisode(result) {
    this.localMovers = [];
    const custom = JSON.parse(this.game.end_episode_json(JSON.stringify(this.returns)));
    this.inEpisode = false;
    this.#emit({
      type: "episode_end", episode: this.episode, step: this.step, steps: this.step, returns: this.returns,
      terminated: result.terminated, truncated: result.truncated, attempt: this.attempt, ...custom,
    });
    this.attempt = 0;
    this.#nextEpisode();
  }

  /** After an episode: the next one after a pause, or the end of the run. */
  #nextEpisode() {
    this.episode += 1;
    if (this.episode < this.config.gameplay.num_episodes) {
      this.timer = setTimeout(this.guard(() => this.#beginEpisode()), PAUSE_BETWEEN_EPISODES_MS);
    } else this.end();
  }

  /** The step's picture to the page: drawables (objects_fn) at once, or a frame once it is a bitmap. */
  #sendFrame() {
    const { episode, step } = this;
    if (this.config.rendering.objects_fn) return this.page.objects(this.game.objects_json(), this.periodMs, episode, step);
    frameBitmap(this.game).then((bitmap) => this.page.frame(bitmap, episode, step));
  }

  // ---- For NetPlay --------------------------------------------------------------------------

  /** Where the run is: the episode, the step, and the returns so far. */
  at() {
    return { episode: this.episode, step: this.step, returns: this.returns };
  }

  /** Whether a tick of `generation` is still the run's (not paused, restarted or resumed since). */
  isCurrent(generation) {
    return generation === this.generation;
  }

  /** Matched: play the group's episodes from the group's seed. */
  beginMatched(seed, extra) {
    this.baseSeed = seed;
    this.episode = 0;
    this.#begin(extra);
  }

  /** Back in a group: hold the loop until the group's state arrives (`seed`: the group's, on a fresh page). */
  awaitState(seed = undefined) {
    this.generation += 1;
    if (seed !== undefined) this.baseSeed = seed;
  }

  /** Continue from a restored state at (episode, step). */
  continueFrom(episode, step, returns, episodeOver) {
    Object.assign(this, { episode, step, returns: { ...this.returns, ...returns }, inEpisode: !episodeOver, announced: -1 });
    this.generation += 1;
    this.stop();
    this.#sendFrame();
    if (!episodeOver) return this.#schedule(this.periodMs);
    this.#nextEpisode();
  }

  /** No partner came: play alone, the other Human `seats` taken by their fallbacks (a config of its own). */
  playAlone(seats, extra) {
    const config = this.loaded.games.playedAlone(this.config, seats);
    this.#use(`${this.key}:alone`, config, null, 0);
    this.baseSeed = config.gameplay.seed ?? this.#randomSeed();
    this.#begin(extra);
  }

  /** A partner's action arrived while the loop waited for it: tick now. */
  wake() {
    const generation = this.generation;
    this.nextTick = Math.max(this.nextTick, performance.now());
    this.guard(() => this.#tick(generation))();
  }

  /**
   * The run is over: every episode played, or (networked) the group ended for `reason`.
   * @param {string | null} reason @param {Outcome | null} outcome
   */
  end(reason = null, outcome = null) {
    this.stop();
    this.generation += 1;
    this.inEpisode = false;
    this.#emit({ type: "run_end", episodes: this.episode, ...(reason && { ended: reason }) });
    this.net?.finish();
    this.page.done(outcome);
  }
}
