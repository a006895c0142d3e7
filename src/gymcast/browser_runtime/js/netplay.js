// @ts-check
// Networked play in the worker: the waiting room, lockstep with an input delay, standing in for a
// partner who left, state hashes, and repairs. Every browser in a group runs the same seeded env;
// only actions (and, for a repair or a rejoin, one serialized state) cross the network.
//
// Lockstep: at step t this browser sends its seat's action for step t + delay, and runs step t
// once every seat's action for t is here. The host sizes `delay` from measured round trips, so in
// a steady game nobody waits. We chose lockstep over rollback because envs such as Overcooked take
// milliseconds per step and have no cheap state save/load; rollback would re-simulate many steps
// per frame.
//
// Turn-based games (gameplay.input_mode "turns") use turn-based lockstep over the same relay messages:
// there is no input delay, and every seat still sends one `action` per step, for the step being played.
// The seat to move sends its move once its person makes it; every other seat sends `null` (a pass) at
// once. A step runs when every seat's entry is here, with the movers' actions only. A page whose seat
// is not to move cannot move: Run refuses its input. The relay forwards these like any action.
//
// A NetPlay drives its run (run.js) through the run's "For NetPlay" methods, keeps its books in a
// Lockstep (lockstep.js), and tells the page through the worker's PageChannel (protocol.js).

import { chooseAction } from "./input.js";
import { Lockstep, reached } from "./lockstep.js";
import { RelayConnection } from "./relay.js";
import { round } from "./timing.js";

/** @typedef {import("./protocol.js").PageChannel} PageChannel */
/** @typedef {import("./protocol.js").RelayAccess} RelayAccess */
/** @typedef {import("./policies.js").Policies} Policies */
/** @typedef {import("./run.js").Run} Run */

export class NetPlay {
  /**
   * Join the relay's waiting room for game `key`.
   * @param {object} options
   * @param {Run} options.run the run this plays
   * @param {string} options.key the game config's key (the relay groups people by it)
   * @param {any} options.config that game config
   * @param {any} options.game its WorkerGame (gymcast_runtime.bridge)
   * @param {import("./input.js").KeyState} options.keys
   * @param {Policies | null} options.policies
   * @param {PageChannel} options.page
   * @param {RelayAccess} options.relay
   * @param {boolean} options.visible
   * @param {number} options.relaySchema the relay protocol's version (manifest.contracts.relay_schema)
   */
  constructor({ run, key, config, game, keys, policies, page, relay, visible, relaySchema }) {
    this.run = run;
    this.config = config;
    this.game = game;
    this.keys = keys;
    this.policies = policies;
    this.page = page;
    this.lockstep = null;
    this.seat = null;
    this.standIns = new Set(); // seats whose person is gone and for which this browser decides
    this.last = null; // {episode, step, over}: the last state this browser reached
    this.repairs = 0; // desync repair states received, reported with each hash
    this.requests = []; // snapshot requests waiting until this browser reaches their step
    this.pendingRepair = null;
    this.awaitingState = false;
    this.waitingSince = null;
    this.waitingGeneration = null;
    this.keysUsed = new Map();
    this.finished = false;
    this.ended = false;
    this.connection = new RelayConnection(
      relay.url, { type: "join", schema: relaySchema, session_id: relay.session_id, token: relay.token, game: key, visible },
      run.guard((message) => this.#onMessage(message)),
      (status) => page.net({ what: status }),
    );
    page.net({ what: "waiting", waited_s: 0 });
  }

  setVisible(visible) {
    this.connection.setVisible(visible);
  }

  #onMessage(message) {
    const handler = {
      waiting: () => this.page.net({ what: "waiting", waited_s: message.waited_s }),
      matched: () => this.#matched(message),
      timeout: () => this.#timeout(message),
      action: () => this.#action(message),
      seat: () => this.#seat(message),
      snapshot_request: () => {
        this.requests.push(message);
        this.#serveRequests();
      },
      state: () => this.#state(message),
      end: () => this.#end(message),
      error: () => {
        this.page.event({ type: "relay_error", message: message.message });
        if (message.fatal) this.page.error(`the relay refused this browser: ${message.message}`);
      },
    }[message.type];
    if (handler) handler();
  }

  #matched(message) {
    this.seat = message.seat;
    this.delay = message.input_delay;
    this.hashEvery = message.hash_every;
    this.groupId = message.group_id;
    const fresh = this.lockstep === null;
    this.lockstep = new Lockstep(message.seats);
    const info = { group_id: message.group_id, seat: message.seat, seats: message.seats, input_delay: message.input_delay,
                   seed: message.seed, rtt_ms: message.rtt_ms, rejoin: message.rejoin };
    this.page.event({ type: "matched", ...info });
    this.page.net({ what: "matched", ...info, controllers: message.controllers });
    if (message.rejoin) {
      this.awaitingState = true;
      this.run.awaitState(fresh ? message.seed : undefined);
      return;
    }
    this.run.beginMatched(message.seed, { networked: true, ...info });
  }

  #timeout(message) {
    this.connection.close();
    this.page.event({ type: "wait_timeout", waited_s: message.waited_s, on_timeout: message.on_timeout });
    if (message.on_timeout === "ai") {
      const players = this.config.players;
      const [mine, ...others] = Object.keys(players).filter((agent) => players[agent].type === "human");
      this.page.net({ what: "alone", seat: mine });
      return this.run.playAlone(others, { networked: false, alone_after_wait_s: message.waited_s, seat: mine });
    }
    this.page.done({ kind: "timeout", code: message.code, redirect: message.redirect });
  }

  #action(message) {
    this.lockstep?.record(message.episode, message.step, message.agent, message.action);
    if (this.waitingGeneration !== null && this.run.isCurrent(this.waitingGeneration)) {
      this.waitingGeneration = null;
      this.run.wake();
    }
  }

  #seat(message) {
    if (message.controller === "fallback" && message.proxy === this.seat) this.standIns.add(message.agent);
    else {
      this.standIns.delete(message.agent);
      this.lockstep?.stopStandingIn(message.agent);
    }
    const { episode, step } = this.run.at();
    this.page.event({ type: "seat_change", agent: message.agent, controller: message.controller, proxy: message.proxy,
                      abandoned: message.abandoned, episode, step });
    this.page.net({ what: "seat", agent: message.agent, controller: message.controller,
                    abandoned: message.abandoned, grace_s: message.grace_s });
    if (this.standIns.has(message.agent) && this.waitingGeneration !== null) {
      this.waitingGeneration = null;
      this.run.wake();
    }
  }

  /** The worker's loop asks for step `step`'s joint actions: null while a seat's action is missing. */
  async input(step, generation) {
    if (this.awaitingState || this.ended) return null;
    await this.#sendInputs(step);
    if (!this.run.isCurrent(generation)) return null;
    const arrived = this.#arrived(this.run.at().episode, step, generation);
    if (!arrived) return null;
    const used = { [this.seat]: this.keysUsed.get(step) ?? null };
    this.keysUsed.delete(step);
    return { actions: { ...arrived.joint }, used, extra: { wait_ms: arrived.waitMs, input_delay: this.delay } };
  }

  /**
   * Turn-based play: step `step`'s actions of the agents `toMove` once every seat has sent its entry
   * (its move, or a pass), or null while one is missing. This seat passes at once when it is not to
   * move, or sends its person's move (Run.takeMove) when it is; seats this browser stands in for get
   * their fallback's move, or a pass.
   */
  async turnInput(step, toMove, generation) {
    if (this.awaitingState || this.ended) return null;
    const { episode } = this.run.at();
    if (!this.lockstep.has(episode, step, this.seat)) {
      const move = toMove.includes(this.seat) ? this.run.takeMove(this.seat) : { action: null, key: null };
      if (move) {
        this.lockstep.record(episode, step, this.seat, move.action);
        this.keysUsed.set(step, move.key);
        this.connection.send({ type: "action", episode, step, agent: this.seat, action: move.action });
      }
    }
    const due = [...this.standIns].filter((agent) => this.lockstep.standInDue(episode, step, agent));
    const deciding = due.filter((agent) => toMove.includes(agent));
    let decided = {};
    if (deciding.length) {
      const agents = JSON.stringify(deciding);
      const requests = JSON.parse(this.game.fallback_requests_json(agents));
      const outputs = requests.length ? (await this.policies.run(requests)).outputs : {};
      decided = JSON.parse(this.game.fallback_actions_json(agents, JSON.stringify(outputs)));
    }
    for (const agent of due) {
      this.lockstep.markStandInSent(episode, step, agent);
      this.connection.send({ type: "action", episode, step, agent, action: decided[agent] ?? null });
    }
    if (!this.run.isCurrent(generation)) return null;
    const arrived = this.#arrived(episode, step, generation);
    if (!arrived) return null;
    const used = toMove.includes(this.seat) ? { [this.seat]: this.keysUsed.get(step) ?? null } : {};
    this.keysUsed.delete(step);
    const actions = Object.fromEntries(toMove.map((agent) => [agent, arrived.joint[agent]]));
    return { actions, used, extra: { wait_ms: arrived.waitMs } };
  }

  /**
   * Step `step`'s joint actions once every seat's has arrived, with how long this browser waited for them (ms);
   * null while one is missing, the wait noted so that the action that completes it wakes the loop (#action).
   */
  #arrived(episode, step, generation) {
    const joint = this.lockstep.joint(episode, step);
    if (!joint) {
      this.waitingSince ??= performance.now();
      this.waitingGeneration = generation;
      return null;
    }
    const waitedMs = this.waitingSince === null ? 0 : performance.now() - this.waitingSince;
    this.waitingSince = null;
    return { joint, waitMs: round(waitedMs) };
  }

  /** Send this seat's actions up to `step + delay`, and decide for the seats this browser stands in for. */
  async #sendInputs(step) {
    const upTo = step + this.delay;
    const { episode } = this.run.at();
    for (const ahead of this.lockstep.takeUnsent(upTo)) {
      if (this.lockstep.has(episode, ahead, this.seat)) continue; // the group has it already (a rejoin's state said so)
      const choice = chooseAction(this.seat, this.config.players[this.seat], this.keys, this.config.gameplay.input_mode);
      this.lockstep.record(episode, ahead, this.seat, choice.action);
      this.keysUsed.set(ahead, choice.key);
      this.connection.send({ type: "action", episode, step: ahead, agent: this.seat, action: choice.action });
    }
    const missing = [];
    for (const agent of this.standIns) {
      for (let ahead = step; ahead <= upTo; ahead += 1) {
        if (this.lockstep.standInDue(episode, ahead, agent)) missing.push([agent, ahead]);
      }
    }
    if (!missing.length) return;
    const agents = JSON.stringify([...new Set(missing.map(([agent]) => agent))]);
    const requests = JSON.parse(this.game.fallback_requests_json(agents));
    const outputs = requests.length ? (await this.policies.run(requests)).outputs : {};
    const actions = JSON.parse(this.game.fallback_actions_json(agents, JSON.stringify(outputs)));
    for (const [agent, ahead] of missing) {
      this.lockstep.markStandInSent(episode, ahead, agent);
      this.connection.send({ type: "action", episode, step: ahead, agent, action: actions[agent] });
    }
  }

  episodeStarted(episode) {
    this.lockstep.beginEpisode();
    this.last = { episode, step: 0, over: false };
    this.lockstep.keepSnapshot(episode, 0, this.game.snapshot_b64(), false);
    this.#serveRequests();
  }

  /** The step ran: keep it for repairs, compare hashes every `hashEvery` steps, answer snapshot requests. */
  stepped(episode, result) {
    this.lockstep.applied(episode, result.step, result.actions);
    this.last = { episode, step: result.step, over: result.terminated || result.truncated };
    if (result.step % this.hashEvery === 0) {
      const hash = result.obs_hash ?? this.game.obs_hash();
      this.connection.send({ type: "hash", episode, step: result.step, hash, repairs: this.repairs });
      this.lockstep.keepSnapshot(episode, result.step, this.game.snapshot_b64(), this.last.over);
    }
    if (this.pendingRepair && reached(episode, result.step, this.pendingRepair.episode, this.pendingRepair.step)) {
      const repair = this.pendingRepair;
      this.pendingRepair = null;
      this.#repair(repair);
    }
    this.#serveRequests();
  }

  /** Answer each snapshot request whose step this browser has reached (or whose episode has ended). */
  #serveRequests() {
    const last = this.last;
    if (!last) return;
    for (const request of [...this.requests]) {
      // A rejoin is answered at once, with every input buffered past this state (the rejoining seat's own
      // included, which it adopts): waiting for the step the relay last saw could wait for an action lost in a
      // crashed host process. A desync repair waits for its step.
      const due = request.reason === "rejoin" || last.episode > request.episode
        || (last.episode === request.episode && (last.step >= request.step || last.over));
      if (!due) continue;
      this.requests.splice(this.requests.indexOf(request), 1);
      const kept = request.reason === "desync" ? this.lockstep.snapshotAt(request.episode, request.step) : undefined;
      const at = kept ? { episode: request.episode, step: request.step, over: kept.over } : last;
      const state = kept ? kept.state : this.game.snapshot_b64();
      // A rejoining browser missed the actions sent while it was away: hand over those for later steps.
      const inputs = request.reason === "rejoin" ? this.lockstep.inputsAfter(at.episode, at.step) : [];
      this.connection.send({ type: "snapshot", request_id: request.request_id, episode: at.episode, step: at.step,
                             state, returns: this.run.at().returns, episode_over: at.over, inputs });
      this.page.event({ type: "state_shared", reason: request.reason, episode: at.episode, step: at.step, bytes: state.length });
    }
  }

  #state(message) {
    if (this.awaitingState) return this.#rejoin(message);
    if (message.reason === "desync") this.repairs += 1; // later hashes tell the relay they follow this repair
    const last = this.last;
    if (!last || last.episode !== message.episode) {
      return this.page.event({ type: "resync_skipped", episode: message.episode, step: message.step, reason: "another episode" });
    }
    if (last.step < message.step) this.pendingRepair = message; // repair once this browser gets there
    else this.#repair(message);
  }

  /** A desync repair: take the reference's state at its step, then re-run this episode's later steps. */
  #repair(message) {
    const before = this.game.obs_hash();
    try {
      this.game.restore_b64(message.state);
    } catch (error) { // a state that does not fit this game (a hostile or broken partner): keep ours, say so
      if (/** @type {any} */ (error)?.type !== "StateError") throw error;
      this.page.event({ type: "resync_refused", episode: message.episode, step: message.step, source: message.from,
                        error: String(/** @type {any} */ (error).message).slice(-500) });
      return; // the next hashes disagree again, and the relay ends the group if the repair is never confirmed
    }
    for (let step = message.step + 1; step <= this.last.step; step += 1) {
      this.game.step_json(JSON.stringify(this.lockstep.appliedAt(step)));
    }
    this.page.event({ type: "resync", episode: message.episode, from_step: message.step, to_step: this.last.step,
                      source: message.from, hash_before: before, hash_after: this.game.obs_hash() });
  }

  /** Back in the group after a reload or a lost connection: continue from the state a partner sent. */
  #rejoin(message) {
    this.awaitingState = false;
    this.repairs = 0; // the relay counts repairs afresh for a rejoined seat
    const restored = JSON.parse(this.game.restore_b64(message.state));
    this.lockstep.resumeAt(message.step);
    // Every buffered input, this seat's own too: the partner may already have played them (sent before the
    // connection dropped, or decided by a stand-in), so this browser plays the same ones and sends only later steps.
    for (const [episode, step, agent, action] of message.inputs) this.lockstep.record(episode, step, agent, action);
    this.last = { episode: message.episode, step: message.step, over: message.episode_over };
    this.page.event({ type: "rejoined", episode: message.episode, step: message.step, from: message.from,
                      obs_hash: restored.obs_hash, episode_over: message.episode_over });
    this.page.net({ what: "rejoined" });
    this.run.continueFrom(message.episode, message.step, message.returns, message.episode_over);
  }

  #end(message) {
    if (this.finished || this.ended) return;
    this.ended = true;
    this.page.event({ type: "group_end", reason: message.reason });
    this.page.net({ what: "ended", reason: message.reason });
    this.run.end(message.reason, { kind: "group_end", reason: message.reason });
  }

  /** Every episode is played (or the group ended): tell the host, and leave. */
  finish() {
    if (this.finished) return;
    this.finished = true;
    if (!this.ended) this.connection.send({ type: "finished" });
    setTimeout(() => this.connection.close(), 500);
  }
}
