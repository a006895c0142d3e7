// Lockstep bookkeeping for networked play: every seat's action per (episode, step), the joint
// actions applied this episode (to re-simulate after a repair), and recent state snapshots.

const KEPT_SNAPSHOTS = 4;
const key = (episode, step) => `${episode}:${step}`;

export class Lockstep {
  constructor(seats) {
    this.seats = seats;
    this.inputs = new Map(); // "episode:step" -> {agent: action}
    this.history = new Map(); // step -> the joint actions applied at that step (this episode)
    this.snapshots = new Map(); // "episode:step" -> {state, over}
    this.sentUpTo = 0; // own actions sent for steps 1..sentUpTo of this episode
    this.standInSent = new Set(); // "episode:step:agent" decided for a seat this browser stands in for
  }

  /** A new episode: nothing sent, no history. Inputs already received for it stay. */
  beginEpisode() {
    this.history.clear();
    this.sentUpTo = 0;
  }

  record(episode, step, agent, action) {
    const slot = this.inputs.get(key(episode, step)) ?? {};
    slot[agent] = action;
    this.inputs.set(key(episode, step), slot);
  }

  has(episode, step, agent) {
    return agent in (this.inputs.get(key(episode, step)) ?? {});
  }

  /** Every seat's action for the step, or null while one is missing. */
  joint(episode, step) {
    const slot = this.inputs.get(key(episode, step));
    return slot && this.seats.every((agent) => agent in slot) ? slot : null;
  }

  /** The step ran: keep its joint actions for re-simulation, drop its inputs. */
  applied(episode, step, actions) {
    this.history.set(step, actions);
    this.inputs.delete(key(episode, step));
  }

  /** Every buffered action for a step after (episode, step), as [episode, step, agent, action]. */
  inputsAfter(episode, step) {
    const entries = [];
    for (const [position, slot] of this.inputs) {
      const [e, s] = position.split(":").map(Number);
      if (reached(e, s, episode, step + 1)) for (const [agent, action] of Object.entries(slot)) entries.push([e, s, agent, action]);
    }
    return entries;
  }

  keepSnapshot(episode, step, state, over) {
    this.snapshots.set(key(episode, step), { state, over });
    while (this.snapshots.size > KEPT_SNAPSHOTS) this.snapshots.delete(this.snapshots.keys().next().value);
  }

  snapshotAt(episode, step) {
    return this.snapshots.get(key(episode, step));
  }

  /** Forget what was decided for `agent` as a stand-in (its person is back). */
  stopStandingIn(agent) {
    for (const entry of [...this.standInSent]) if (entry.endsWith(`:${agent}`)) this.standInSent.delete(entry);
  }
}

/** Whether position (episode, step) is at or past (atEpisode, atStep). */
export const reached = (episode, step, atEpisode, atStep) => episode > atEpisode || (episode === atEpisode && step >= atStep);
