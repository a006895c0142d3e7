// Runs pure-JS browser modules under Node with small fakes for the browser APIs they touch, and prints
// JSON observations for tests/test_browser_modules_node.py. Usage: node browser_modules.mjs JS_DIR CHECK
import { pathToFileURL } from "node:url";
import path from "node:path";

const [jsDir, check] = process.argv.slice(2);
const load = (name) => import(pathToFileURL(path.join(jsDir, name)).href);

/** localStorage over a Map (participant.js keeps the generated id there). */
const storage = new Map();
globalThis.localStorage = {
  getItem: (key) => (storage.has(key) ? storage.get(key) : null),
  setItem: (key, value) => storage.set(key, String(value)),
  removeItem: (key) => storage.delete(key),
};

/** A Phaser stand-in: one scene whose nodes record where they are drawn; `update` is driven by hand. */
class FakeNode {
  constructor(kind, x, y) {
    Object.assign(this, { kind, x, y, angle: 0, destroyed: false, texture: { key: null }, frame: { name: null } });
  }
  setPosition(x, y) { this.x = x; this.y = y; return this; }
  setAngle(angle) { this.angle = angle; return this; }
  destroy() { this.destroyed = true; }
}
for (const name of ["setDepth", "setAlpha", "setSize", "setFillStyle", "setStrokeStyle", "setRadius", "setText",
  "setFontSize", "setColor", "setFontStyle", "setOrigin", "setTexture", "setDisplaySize", "setFlipX", "clear",
  "lineStyle", "strokePoints", "fillStyle", "fillPoints"]) {
  FakeNode.prototype[name] = function () { return this; };
}
const FakePhaser = {
  CANVAS: 1,
  Game: class {
    constructor({ scene }) {
      const add = Object.fromEntries(["image", "rectangle", "circle", "text", "graphics"].map((kind) => [
        kind, (x, y) => (typeof x === "object" ? new FakeNode(kind, x.x, x.y) : new FakeNode(kind, x, y)),
      ]));
      this.context = { add, load: { on() {}, image() {}, atlas() {}, spritesheet() {} } };
      this.events = { on() {} };
      FakePhaser.game = this;
      scene.preload.call(this.context);
      queueMicrotask(() => scene.create.call(this.context));
      this.update = () => scene.update.call(this.context);
    }
    destroy() {}
  },
};

async function objects() {
  const { ObjectView } = await load("objects.js");
  const view = await ObjectView.create(FakePhaser, {}, { width: 100, height: 100 }, (url) => url);
  const realNow = performance.now.bind(performance);
  let clock = 0;
  performance.now = () => clock;
  const spec = (id, x, angle, tween = true) => ({ id, kind: "rect", x, y: 10, angle, tween, depth: 0, alpha: 1,
    width: 4, height: 4, color: "#000000" });
  const at = (t) => { clock = t; FakePhaser.game.update(); };
  const place = (id) => { const node = view.objects.get(id)?.node; return node && { x: node.x, angle: node.angle }; };
  const out = {};
  view.show(JSON.stringify([spec("a", 0, 350), spec("b", 50, 0), spec("c", 0, 0, false)]), [0, 0], 100);
  at(0);
  view.show(JSON.stringify([spec("a", 100, 10), spec("c", 80, 0, false)]), [0, 1], 100);  // "b" is gone
  const b = view.objects.get("b").node;
  at(1000);  // the new step is taken at t = 1000 and glides over 100 ms
  out.start = { a: place("a"), c: place("c") };
  at(1050);
  out.half = { a: place("a"), c: place("c") };
  at(1100);
  out.end = { a: place("a"), c: place("c") };
  out.b = { kept: view.objects.has("b"), destroyed: b.destroyed };
  performance.now = realNow;
  return out;
}

async function participant() {
  const { identifyParticipant, hashedCondition } = await load("participant.js");
  const id = (query) => identifyParticipant(new URLSearchParams(query), "study");
  const generated = id("");
  return {
    prolific_first: id("PROLIFIC_PID=p&workerId=w&participant_id=x"),
    worker: id("workerId=w1&assignmentId=A1&hitId=H1"),
    generic: id("participant_id=x1"),
    generated,
    generated_again: id(""),
    other_study: identifyParticipant(new URLSearchParams(""), "another"),
    long: id(`participant_id=${"z".repeat(300)}`).id.length,
    conditions: Object.fromEntries(
      Array.from({ length: 40 }, (_, i) => [`p${i}`, hashedCondition(`p${i}`, ["a", "b", "c"])]),
    ),
  };
}

/** The outbox's batches (without IndexedDB: memory only), sent to a fake host that acknowledges everything. */
async function outbox() {
  const { Outbox } = await load("outbox.js");
  const batches = [];
  globalThis.fetch = async (url, { body }) => {
    const { events } = JSON.parse(body);
    batches.push(events.map((event) => event.seq));
    return { ok: true, json: async () => ({ acked: events.map((event) => event.seq) }) };
  };
  const box = new Outbox({ apiBase: "http://host", schema: 1, intervalMs: 1e9, batchSize: 4, batchChars: 300, liveEvents: [] });
  await box.adopt("s");
  await box.authorize("s", "token");
  const settle = () => new Promise((resolve) => setTimeout(resolve, 10));
  const sendAll = async () => {
    while (box.pending() > 0) {
      await box.flush();
      await settle();
    }
  };
  for (let i = 0; i < 10; i++) box.push({ type: "step", note: "x" }); // small: 4 a batch
  await settle();
  await sendAll();
  const small = batches.splice(0);
  for (let i = 0; i < 3; i++) box.push({ type: "step", note: "y".repeat(80) }); // ~130 characters each: 2 a batch
  box.push({ type: "step", note: "z".repeat(1000) }); // over the budget by itself: alone
  await settle();
  await sendAll();
  return { small, large: batches };
}

const checks = { objects, participant, outbox };
console.log(JSON.stringify(await checks[check]()));
