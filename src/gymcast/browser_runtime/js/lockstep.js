// @ts-check
// Lockstep bookkeeping for networked play: every seat's action per (episode, step), the joint
// actions applied this episode (to re-simulate after a repair), and recent state snapshots.

const KEPT_SNAPSHOTS = 4;
const key = (/** @type {number} */ episode, /** @type {number} */ step) => `${episode}:${step}`;

export class Lockstep {
  /** @type {Map<string, Record<string, any>>} "episode:step" -> {agent: action} */
  #inputs = new Map();
  /** @type {Map<number, Record<string, any>>} step -> the joint actions applied at that step (this episode) */
  #history = new Map();
  /** @type {Map<string, {state: string, over: boolean}>} "episode:step" -> a kept state */
  #snapshots = new Map();
  /** own actions sent for steps 1..sentUpTo of this episode */
  #sentUpTo = 0;
  /** @type {Set<string>} "episode:step:agent" decided for a seat this browser stands in for */
  #standInSent = new Set();

  /** @param {string[]} seats every seat whose action a step needs */
  constructor(seats) {
    this.seats = seats;
  }

  /** A new episode: nothing sent, no history. Inputs already received for it stay. */
  beginEpisode() {
    this.resumeAt(0);
  }

  /** Continue an episode from `step` (a rejoin): no history, own actions counted as sent up to `step`. */
  resumeAt(step) {
    this.#history.clear();
    this.#sentUpTo = step;
  }

  /** The steps from the last one sent up to `upTo` for which this browser's own action is due; they count as sent. */
  takeUnsent(upTo) {
    const steps = [];
    while (this.#sentUpTo < upTo) steps.push(++this.#sentUpTo);
    return steps;
  }

  record(episode, step, agent, action) {
    const slot = this.#inputs.get(key(episode, step)) ?? {};
    slot[agent] = action;
    this.#inputs.set(key(episode, step), slot);
  }

  has(episode, step, agent) {
    return agent in (this.#inputs.get(key(episode, step)) ?? {});
  }

  /** Every seat's action for the step, or null while one is missing. */
  joint(episode, step) {
    const slot = this.#inputs.get(key(episode, step));
    return slot && this.seats.every((agent) => agent in slot) ? slot : null;
  }

  /** The step ran: keep its joint actions for re-simulation, drop its inputs. */
  applied(episode, step, actions) {
    this.#history.set(step, actions);
    this.#inputs.delete(key(episode, step));
  }

  /** The joint actions applied at `step` of this episode. */
  appliedAt(step) {
    return this.#history.get(step);
  }

  /** Every buffered action for a step after (episode, step), as [episode, step, agent, action]. */
  inputsAfter(episode, step) {
    const entries = [];
    for (const [position, slot] of this.#inputs) {
      const [e, s] = position.split(":").map(Number);
      if (reached(e, s, episode, step + 1)) for (const [agent, action] of Object.entries(slot)) entries.push([e, s, agent, action]);
    }
    return entries;
  }

  keepSnapshot(episode, step, state, over) {
    this.#snapshots.set(key(episode, step), { state, over });
    while (this.#snapshots.size > KEPT_SNAPSHOTS) this.#snapshots.delete(this.#snapshots.keys().next().value);
  }

  snapshotAt(episode, step) {
    return this.#snapshots.get(key(episode, step));
  }

  /** Whether this browser still has to decide `agent`'s action at (episode, step) as its stand-in. */
  standInDue(episode, step, agent) {
    return !this.has(episode, step, agent) && !this.#standInSent.has(`${key(episode, step)}:${agent}`);
  }

  /** This browser decided (and sent) `agent`'s action at (episode, step) as its stand-in. */
  markStandInSent(episode, step, agent) {
    this.#standInSent.add(`${key(episode, step)}:${agent}`);
  }

  /** Forget what was decided for `agent` as a stand-in (its person is back). */
  stopStandingIn(agent) {
    for (const entry of [...this.#standInSent]) if (entry.endsWith(`:${agent}`)) this.#standInSent.delete(entry);
  }
}

/** Whether position (episode, step) is at or past (atEpisode, atStep). */
export const reached = (episode, step, atEpisode, atStep) => episode > atEpisode || (episode === atEpisode && step >= atStep);
