// @ts-check
// When a first visit makes the snapshot after the imports: in a second worker (snapshot_worker.js),
// once the game worker has loaded and warmed up, while the participant reads the Start screen. A
// run that starts meanwhile stops it (play comes first: the machine may have two cores), and it
// starts again when that run is over. Each try is logged as a `python_snapshot` event.

import { loadedLibraries } from "./import_snapshot.js";

export class SnapshotMaker {
  /** @type {Worker | null} */
  #worker = null;
  #made = false;
  #tries = 0;

  /**
   * @param {any} manifest @param {string} baseUrl @param {any} pyodide the game worker's (its libraries and their order)
   * @param {(event: import("./protocol.js").LogEvent) => void} log
   */
  constructor(manifest, baseUrl, pyodide, log) {
    Object.assign(this, { manifest, baseUrl, pyodide, log });
  }

  /** Start making the snapshot, unless one is made or being made. */
  start() {
    if (this.#made || this.#worker || this.#tries >= 3) return;
    const { manifest, baseUrl, pyodide, log } = /** @type {any} */ (this);
    let libraries;
    try {
      libraries = loadedLibraries(pyodide);
    } catch (error) {
      this.#tries = Infinity;
      log({ type: "python_snapshot", outcome: "failed", why: `the libraries could not be read: ${error?.message ?? error}` });
      return;
    }
    this.#tries += 1;
    const worker = new Worker(new URL("snapshot_worker.js", import.meta.url), { type: "module" });
    this.#worker = worker;
    const finish = (/** @type {import("./protocol.js").SnapshotOutcome} */ outcome) => {
      if (this.#worker !== worker) return;
      worker.terminate();
      this.#worker = null;
      this.#made ||= outcome.type === "made";
      const { type, ...fields } = outcome;
      log({ type: "python_snapshot", outcome: type, ...fields });
    };
    worker.onmessage = ({ data }) => finish(data);
    worker.onerror = (event) => finish({ type: "failed", why: `the snapshot worker failed: ${event.message ?? "unknown error"}`, ms: 0 });
    /** @type {import("./protocol.js").SnapshotRequest} */
    const request = { type: "make", manifest, baseUrl, libraries };
    worker.postMessage(request, libraries.map((library) => library.bytes.buffer));
  }

  /** Stop a snapshot being made (a run starts); `start` tries again later. */
  stop() {
    if (!this.#worker) return;
    this.#worker.terminate();
    this.#worker = null;
    this.#tries -= 1; // not the snapshot's fault
    /** @type {any} */ (this).log({ type: "python_snapshot", outcome: "stopped", why: "a run started" });
  }
}
