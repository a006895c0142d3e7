// Networked play in the worker: the waiting room, lockstep with an input delay, standing in for a
// partner who left, state hashes, and repairs. Every browser in a group runs the same seeded env;
// only actions (and, for a repair or a rejoin, one serialized state) cross the network.
//
// Lockstep: at step t this browser sends its seat's action for step t + delay, and runs step t
// once every seat's action for t is here. The host sizes `delay` from measured round trips, so in
// a steady game nobody waits. We chose lockstep over rollback because envs such as Overcooked take
// milliseconds per step and have no cheap state save/load; rollback would re-simulate many steps
// per frame.

import { chooseAction } from "./input.js";
import { Lockstep, reached } from "./lockstep.js";
import { RelayConnection } from "./relay.js";

const round = (ms) => Math.round(ms * 1000) / 1000;

export class NetPlay {
  /** `hooks`: what the worker lets this module do (emit, post, session(), game(), run(), begin, resume, wake, end, guarded, ...). */
  constructor({ scene, key, relay, visible, hooks }) {
    Object.assign(this, { scene, key, hooks });
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
      relay.url, { type: "join", schema: 1, session_id: relay.session_id, token: relay.token, game: key, visible },
      hooks.guarded((message) => this.#onMessage(message)),
      (status) => hooks.post({ type: "net", what: status }),
    );
    hooks.post({ type: "net", what: "waiting", waited_s: 0 });
  }

  setVisible(visible) {
    this.connection.setVisible(visible);
  }

  #onMessage(message) {
    const handler = {
      waiting: () => this.hooks.post({ type: "net", what: "waiting", waited_s: message.waited_s }),
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
        this.hooks.emit({ type: "relay_error", message: message.message });
        if (message.fatal) this.hooks.post({ type: "error", message: `the relay refused this browser: ${message.message}` });
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
    this.hooks.emit({ type: "matched", ...info });
    this.hooks.post({ type: "net", what: "matched", ...info, controllers: message.controllers });
    if (message.rejoin) {
      this.awaitingState = true;
      this.hooks.run().generation += 1; // stop the loop until the group's state arrives
      if (fresh) this.hooks.run().baseSeed = message.seed;
      return;
    }
    this.hooks.begin(this.scene, this.key, message.seed, { networked: true, ...info });
  }

  #timeout(message) {
    this.connection.close();
    this.hooks.emit({ type: "wait_timeout", waited_s: message.waited_s, on_timeout: message.on_timeout });
    if (message.on_timeout === "ai") {
      const game = this.hooks.game();
      const [mine, ...others] = Object.keys(game.players).filter((agent) => game.players[agent].type === "human");
      const fallbacks = game.multiplayer.fallbacks;
      const players = { ...game.players, ...Object.fromEntries(others.map((agent) => [agent, fallbacks[agent]])) };
      this.hooks.post({ type: "net", what: "alone", seat: mine });
      return this.hooks.playAlone(this.scene, this.key, { ...game, players, multiplayer: null },
                                  { networked: false, alone_after_wait_s: message.waited_s, seat: mine });
    }
    this.hooks.post({ type: "done", outcome: { kind: "timeout", code: message.code, redirect: message.redirect } });
  }

  #action(message) {
    this.lockstep?.record(message.episode, message.step, message.agent, message.action);
    if (this.waitingGeneration !== null && this.waitingGeneration === this.hooks.run().generation) {
      this.waitingGeneration = null;
      this.hooks.wake();
    }
  }

  #seat(message) {
    if (message.controller === "fallback" && message.proxy === this.seat) this.standIns.add(message.agent);
    else {
      this.standIns.delete(message.agent);
      this.lockstep?.stopStandingIn(message.agent);
    }
    this.hooks.emit({ type: "seat_change", agent: message.agent, controller: message.controller, proxy: message.proxy,
                      abandoned: message.abandoned, episode: this.hooks.run().episode, step: this.hooks.run().step });
    this.hooks.post({ type: "net", what: "seat", agent: message.agent, controller: message.controller,
                      abandoned: message.abandoned, grace_s: message.grace_s });
    if (this.standIns.has(message.agent) && this.waitingGeneration !== null) {
      this.waitingGeneration = null;
      this.hooks.wake();
    }
  }

  /** The worker's loop asks for step `step`'s joint actions: null while a seat's action is missing. */
  async input(step, generation) {
    if (this.awaitingState || this.ended) return null;
    await this.#sendInputs(step);
    if (generation !== this.hooks.run().generation) return null;
    const run = this.hooks.run();
    const joint = this.lockstep.joint(run.episode, step);
    if (!joint) {
      this.waitingSince ??= performance.now();
      this.waitingGeneration = generation;
      return null;
    }
    const waitedMs = this.waitingSince === null ? 0 : performance.now() - this.waitingSince;
    this.waitingSince = null;
    const used = { [this.seat]: this.keysUsed.get(step) ?? null };
    this.keysUsed.delete(step);
    return { actions: { ...joint }, used, extra: { wait_ms: round(waitedMs), input_delay: this.delay } };
  }

  /** Send this seat's actions up to `step + delay`, and decide for the seats this browser stands in for. */
  async #sendInputs(step) {
    const run = this.hooks.run();
    const game = this.hooks.game();
    const upTo = step + this.delay;
    const episode = run.episode;
    while (this.lockstep.sentUpTo < upTo) {
      const ahead = ++this.lockstep.sentUpTo;
      const choice = chooseAction(this.seat, game.players[this.seat], this.hooks.keys, game.gameplay.input_mode);
      this.lockstep.record(episode, ahead, this.seat, choice.action);
      this.keysUsed.set(ahead, choice.key);
      this.connection.send({ type: "action", episode, step: ahead, agent: this.seat, action: choice.action });
    }
    const missing = [];
    for (const agent of this.standIns) {
      for (let ahead = step; ahead <= upTo; ahead += 1) {
        const id = `${episode}:${ahead}:${agent}`;
        if (!this.lockstep.has(episode, ahead, agent) && !this.lockstep.standInSent.has(id)) missing.push([agent, ahead, id]);
      }
    }
    if (!missing.length) return;
    const session = this.hooks.session();
    const agents = JSON.stringify([...new Set(missing.map(([agent]) => agent))]);
    const requests = JSON.parse(session.fallback_requests_json(agents));
    const outputs = requests.length ? (await this.hooks.runPolicies(requests)).outputs : {};
    const actions = JSON.parse(session.fallback_actions_json(agents, JSON.stringify(outputs)));
    for (const [agent, ahead, id] of missing) {
      this.lockstep.standInSent.add(id);
      this.connection.send({ type: "action", episode, step: ahead, agent, action: actions[agent] });
    }
  }

  episodeStarted(episode) {
    this.lockstep.beginEpisode();
    this.last = { episode, step: 0, over: false };
    this.lockstep.keepSnapshot(episode, 0, this.hooks.session().snapshot_b64(), false);
    this.#serveRequests();
  }

  /** The step ran: keep it for repairs, compare hashes every `hashEvery` steps, answer snapshot requests. */
  stepped(episode, result) {
    this.lockstep.applied(episode, result.step, result.actions);
    this.last = { episode, step: result.step, over: result.terminated || result.truncated };
    if (result.step % this.hashEvery === 0) {
      const session = this.hooks.session();
      const hash = result.obs_hash ?? session.obs_hash();
      this.connection.send({ type: "hash", episode, step: result.step, hash, repairs: this.repairs });
      this.lockstep.keepSnapshot(episode, result.step, session.snapshot_b64(), this.last.over);
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
      const due = last.episode > request.episode || (last.episode === request.episode && (last.step >= request.step || last.over));
      if (!due) continue;
      this.requests.splice(this.requests.indexOf(request), 1);
      const kept = request.reason === "desync" ? this.lockstep.snapshotAt(request.episode, request.step) : undefined;
      const at = kept ? { episode: request.episode, step: request.step, over: kept.over } : last;
      const state = kept ? kept.state : this.hooks.session().snapshot_b64();
      // A rejoining browser missed the actions sent while it was away: hand over those for later steps.
      const inputs = request.reason === "rejoin" ? this.lockstep.inputsAfter(at.episode, at.step) : [];
      this.connection.send({ type: "snapshot", request_id: request.request_id, episode: at.episode, step: at.step,
                             state, returns: this.hooks.run().returns ?? {}, episode_over: at.over, inputs });
      this.hooks.emit({ type: "state_shared", reason: request.reason, episode: at.episode, step: at.step, bytes: state.length });
    }
  }

  #state(message) {
    if (this.awaitingState) return this.#rejoin(message);
    if (message.reason === "desync") this.repairs += 1; // later hashes tell the relay they follow this repair
    const last = this.last;
    if (!last || last.episode !== message.episode) {
      return this.hooks.emit({ type: "resync_skipped", episode: message.episode, step: message.step, reason: "another episode" });
    }
    if (last.step < message.step) this.pendingRepair = message; // repair once this browser gets there
    else this.#repair(message);
  }

  /** A desync repair: take the reference's state at its step, then re-run this episode's later steps. */
  #repair(message) {
    const session = this.hooks.session();
    const before = session.obs_hash();
    session.restore_b64(message.state);
    for (let step = message.step + 1; step <= this.last.step; step += 1) {
      session.step_json(JSON.stringify(this.lockstep.history.get(step)));
    }
    this.hooks.emit({ type: "resync", episode: message.episode, from_step: message.step, to_step: this.last.step,
                      source: message.from, hash_before: before, hash_after: session.obs_hash() });
  }

  /** Back in the group after a reload or a lost connection: continue from the state a partner sent. */
  #rejoin(message) {
    this.awaitingState = false;
    this.repairs = 0; // the relay counts repairs afresh for a rejoined seat
    const restored = JSON.parse(this.hooks.session().restore_b64(message.state));
    this.lockstep.beginEpisode();
    this.lockstep.sentUpTo = message.step;
    for (const [episode, step, agent, action] of message.inputs) {
      if (agent !== this.seat) this.lockstep.record(episode, step, agent, action);
    }
    this.last = { episode: message.episode, step: message.step, over: message.episode_over };
    this.hooks.emit({ type: "rejoined", episode: message.episode, step: message.step, from: message.from,
                      obs_hash: restored.obs_hash, episode_over: message.episode_over });
    this.hooks.post({ type: "net", what: "rejoined" });
    this.hooks.resume(message.episode, message.step, message.returns, message.episode_over);
  }

  #end(message) {
    if (this.finished || this.ended) return;
    this.ended = true;
    this.hooks.emit({ type: "group_end", reason: message.reason });
    this.hooks.post({ type: "net", what: "ended", reason: message.reason });
    this.hooks.end(message.reason, { kind: "group_end", reason: message.reason });
  }

  /** Every episode is played (or the group ended): tell the host, and leave. */
  finish() {
    if (this.finished) return;
    this.finished = true;
    if (!this.ended) this.connection.send({ type: "finished" });
    setTimeout(() => this.connection.close(), 500);
  }
}
