// @ts-check
// The ONNX policies, in onnxruntime-web (its wasm self-hosted in the bundle): every model the games'
// players and fallbacks name, opened once, and run for the requests Python makes each step.

/**
 * One ONNX request of a step (gymcast_runtime.bridge.requests_to_json): a model's inputs for an agent.
 * @typedef {{shape: number[], data: number[]}} Tensor
 * @typedef {{agent: string, model: string, feeds: Record<string, Tensor>}} PolicyRequest
 * @typedef {{outputs: Record<string, Record<string, Tensor>>, ms: number}} PolicyAnswer
 */

export class Policies {
  /** @param {any} ort the onnxruntime-web module @param {Map<string, any>} models model path -> InferenceSession */
  constructor(ort, models) {
    this.ort = ort;
    this.models = models;
  }

  /**
   * Import onnxruntime-web and open every ONNX player's model (fallbacks' included).
   * @param {any} manifest @param {(path: string) => string} url a bundle path as a URL
   */
  static async load(manifest, url) {
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
    return new Policies(ort, models);
  }

  /**
   * Run one step's requests; answers each agent's outputs and the time taken.
   * @param {PolicyRequest[]} requests @returns {Promise<PolicyAnswer>}
   */
  async run(requests) {
    const started = performance.now();
    /** @type {PolicyAnswer["outputs"]} */
    const outputs = {};
    for (const request of requests) {
      /** @type {Record<string, any>} */
      const feeds = {};
      for (const [name, tensor] of Object.entries(request.feeds)) {
        feeds[name] = new this.ort.Tensor("float32", Float32Array.from(tensor.data), tensor.shape);
      }
      const results = await this.models.get(request.model).run(feeds);
      outputs[request.agent] = Object.fromEntries(
        Object.entries(results).map(([name, tensor]) => [name, { shape: tensor.dims, data: Array.from(tensor.data) }]));
    }
    return { outputs, ms: performance.now() - started };
  }
}
