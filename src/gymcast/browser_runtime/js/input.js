// Keyboard input: capture on the main thread, key state and key -> action in the worker.

/** Forwards presses and releases of the given keys to `onKey(key, down, time)`; other keys pass through. */
export class KeyboardCapture {
  constructor(keys, onKey, target = window) {
    this.keys = new Set(keys);
    this.onKey = onKey;
    this.held = new Set();
    target.addEventListener("keydown", (event) => this.#handle(event, true));
    target.addEventListener("keyup", (event) => this.#handle(event, false));
    target.addEventListener("blur", () => this.releaseAll());
  }

  #handle(event, down) {
    if (!this.keys.has(event.key)) return;
    event.preventDefault(); // arrows and space would scroll the page
    if (event.repeat) return;
    down ? this.press(event.key) : this.release(event.key);
  }

  /** `key` goes down (a key press, or an on-screen button pressed: pointer.js); ignored while held. */
  press(key) {
    if (this.held.has(key)) return;
    this.held.add(key);
    this.onKey(key, true, Date.now());
  }

  /** `key` goes up; ignored unless held. */
  release(key) {
    if (!this.held.delete(key)) return;
    this.onKey(key, false, Date.now());
  }

  /** Release every held key, e.g. when the window loses focus and keyups would be missed. */
  releaseAll() {
    for (const key of [...this.held]) {
      this.held.delete(key);
      this.onKey(key, false, Date.now());
    }
  }
}

/** Which keys are held (in press order) and which keystrokes wait to be used. */
export class KeyState {
  constructor() {
    this.pressed = [];
    this.strokes = [];
    this.clicks = []; // actions of canvas clicks (rendering.click_fn) not yet used, in real-time play
    this.buffers = new Map(); // agent -> {action, key, remaining}: a human's last input kept alive
  }

  press(key) {
    this.pressed = this.pressed.filter((k) => k !== key).concat(key);
    this.strokes.push(key);
  }

  release(key) {
    this.pressed = this.pressed.filter((k) => k !== key);
  }

  /** Remove and return the oldest waiting keystroke among `keys`, or undefined. */
  takeStroke(keys) {
    const index = this.strokes.findIndex((k) => k in keys);
    return index < 0 ? undefined : this.strokes.splice(index, 1)[0];
  }
}

/** The keys of a key-map entry: "ArrowLeft+ArrowUp" is a chord of two; "+" alone is the plus key. */
export function chordKeys(entry) {
  return entry.length > 1 && entry.includes("+") ? entry.split("+") : [entry];
}

/** The held chord (a key-map entry of several keys, all held) with the most keys, the latest pressed first. */
function heldChord(keyMap, pressed) {
  let best, bestRank = [1, -1];
  for (const entry of Object.keys(keyMap)) {
    const parts = chordKeys(entry);
    if (parts.length < 2 || !parts.every((k) => pressed.includes(k))) continue;
    const rank = [parts.length, Math.max(...parts.map((k) => pressed.indexOf(k)))];
    if (rank[0] > bestRank[0] || (rank[0] === bestRank[0] && rank[1] > bestRank[1])) [best, bestRank] = [entry, rank];
  }
  return best;
}

/**
 * The action a human player (agent `agent`) takes this step.
 * pressed_keys: the largest chord of theirs fully held ("ArrowLeft+ArrowUp"), else the most recently
 * pressed key of theirs still held, or else one tapped since the
 * last step (a tap shorter than a step still counts once). single_keystroke: their oldest unused
 * keystroke. A canvas click (its click_fn action) comes first, once. With no key, their last input stays alive for `action_buffer - 1` more steps;
 * after that, the default action. Returns {action, key}, key null for the default.
 */
export function chooseAction(agent, player, state, mode) {
  if (state.clicks.length) return { action: state.clicks.shift(), key: "click" }; // a click counts once
  let key;
  if (mode === "single_keystroke") {
    key = state.takeStroke(player.keys);
  } else {
    const tapped = state.strokes.filter((k) => k in player.keys);
    state.strokes = state.strokes.filter((k) => !(k in player.keys));
    key = heldChord(player.keys, state.pressed) ?? state.pressed.findLast((k) => k in player.keys) ?? tapped.at(-1);
  }
  if (key !== undefined) {
    state.buffers.set(agent, { action: player.keys[key], key, remaining: (player.action_buffer ?? 1) - 1 });
    return { action: player.keys[key], key };
  }
  const buffer = state.buffers.get(agent);
  if (buffer && buffer.remaining > 0) {
    buffer.remaining -= 1;
    return { action: buffer.action, key: buffer.key };
  }
  return { action: player.default_action, key: null };
}
