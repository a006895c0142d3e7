// @ts-check
// The games' Python side (gymcast_runtime.bridge): one WorkerGame per game config, made on first use
// and kept across scenes, and the configs Python derives from them.

export class Games {
  /** @param {any} pyodide */
  constructor(pyodide) {
    this.pyodide = pyodide;
    this.bridge = pyodide.pyimport("gymcast_runtime.bridge");
    /** @type {Map<string, any>} game key -> WorkerGame */
    this.byKey = new Map();
  }

  /** The WorkerGame of game `key` (a GameSession behind JSON calls), made from `config` on first use. */
  get(key, config) {
    if (!this.byKey.has(key)) this.byKey.set(key, this.bridge.WorkerGame(JSON.stringify(config)));
    return this.byKey.get(key);
  }

  /** `config` as one person plays it when no partner came: the Human `seats` given to their fallbacks. */
  playedAlone(config, seats) {
    return JSON.parse(this.bridge.played_alone_json(JSON.stringify(config), JSON.stringify(seats)));
  }

  /** gymcast_runtime.loading.WarmUp over `configs`: call `step_json()` until it answers null. */
  warmUp(configs, steps) {
    const json = this.pyodide.pyimport("json");
    const loading = this.pyodide.pyimport("gymcast_runtime.loading");
    const loaded = json.loads(JSON.stringify(configs));
    try {
      return loading.WarmUp(loaded, steps);
    } finally {
      for (const proxy of [loaded, json, loading]) proxy.destroy();
    }
  }

  /** Let go of Python's objects (the games made so far, the bridge module). */
  destroy() {
    for (const game of this.byKey.values()) game.destroy();
    this.byKey.clear();
    this.bridge.destroy();
  }
}
