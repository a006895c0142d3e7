// Object rendering: each step the worker sends the env's drawables (see gymcast_runtime/draw.py);
// Phaser draws them at the display's refresh rate, gliding each object from where it was to where
// it is now over one step, so motion stays smooth between env steps. Never waits for the worker.

import { DrawLog, keep } from "./render.js";

const colour = (hex) => parseInt(hex.slice(1), 16);
const points = (list) => list.map(([x, y]) => ({ x, y }));

/** A Phaser game on the page's canvas that shows the latest drawables. */
export class ObjectView {
  /** Load the experiment's images, then resolve with a view that draws on `canvas`. */
  static async create(Phaser, canvas, rendering, assetUrl) {
    const view = new ObjectView();
    await new Promise((resolve, reject) => {
      const scene = {
        preload() {
          this.load.on("loaderror", (file) => reject(new Error(`the image ${file.key} (${file.src}) did not load`)));
          for (const [name, spec] of Object.entries(rendering.assets ?? {})) {
            const url = assetUrl(spec.file_url);
            if (spec.atlas_url) this.load.atlas(name, url, assetUrl(spec.atlas_url));
            else if (spec.frame_width) this.load.spritesheet(name, url, { frameWidth: spec.frame_width, frameHeight: spec.frame_height });
            else this.load.image(name, url);
          }
        },
        create() {
          view.scene = this;
          resolve();
        },
        update() {
          view.#update(performance.now());
        },
      };
      view.game = new Phaser.Game({
        type: Phaser.CANVAS, canvas, width: rendering.width, height: rendering.height, backgroundColor: "#ffffff",
        scene, banner: false, audio: { noAudio: true }, input: { keyboard: false, mouse: false, touch: false },
      });
    });
    let renderStarted = 0;
    view.game.events.on("prerender", () => { renderStarted = performance.now(); });
    view.game.events.on("postrender", () => keep(view.renderTimes, performance.now() - renderStarted));
    return view;
  }

  constructor() {
    this.objects = new Map(); // id -> {kind, node, from, to, start, duration, settled, drawn}
    this.pending = null;
    this.drawn = new DrawLog(); // when each step's objects were first drawn
    this.renderTimes = []; // ms Phaser spent rendering each display frame
  }

  /** The drawables (JSON) of [episode, step], to glide to over `periodMs`. A newer step replaces an undrawn one. */
  show(json, at, periodMs) {
    this.pending = { json, at, periodMs };
  }

  destroy() {
    this.game.destroy(false);
  }

  #update(now) {
    if (this.pending) {
      const { json, at, periodMs } = this.pending;
      this.pending = null;
      this.#apply(JSON.parse(json), periodMs, now);
      this.drawn.record(at, now);
    }
    for (const entry of this.objects.values()) {
      if (entry.settled) continue; // at its place until the next step moves it
      const t = entry.duration > 0 ? Math.min(1, (now - entry.start) / entry.duration) : 1;
      const { from, to } = entry;
      entry.node.setPosition(from.x + (to.x - from.x) * t, from.y + (to.y - from.y) * t);
      const turn = ((to.angle - from.angle + 540) % 360) - 180; // the short way round
      if (entry.node.setAngle) entry.node.setAngle(from.angle + turn * t);
      entry.settled = t >= 1;
    }
  }

  #apply(specs, periodMs, now) {
    const seen = new Set();
    for (const spec of specs) {
      seen.add(spec.id);
      let entry = this.objects.get(spec.id);
      if (entry && entry.kind !== spec.kind) {
        entry.node.destroy();
        entry = undefined;
      }
      const to = { x: spec.x, y: spec.y, angle: spec.angle ?? 0 };
      if (!entry) {
        entry = { kind: spec.kind, node: this.#create(spec), from: to, drawn: null };
        this.objects.set(spec.id, entry);
      } else {
        entry.from = { x: entry.node.x, y: entry.node.y, angle: entry.node.angle ?? 0 };
      }
      Object.assign(entry, { to, start: now, duration: spec.tween ? periodMs : 0, settled: false });
      this.#style(entry, spec);
    }
    for (const [id, entry] of this.objects) {
      if (!seen.has(id)) {
        entry.node.destroy();
        this.objects.delete(id);
      }
    }
  }

  #create(spec) {
    const add = this.scene.add;
    switch (spec.kind) {
      case "sprite": return add.image(spec.x, spec.y, spec.texture, spec.frame ?? undefined);
      case "rect": return add.rectangle(spec.x, spec.y, spec.width, spec.height, colour(spec.color));
      case "circle": return add.circle(spec.x, spec.y, spec.radius, colour(spec.color));
      case "text": return add.text(spec.x, spec.y, spec.text, { fontFamily: "sans-serif" }).setOrigin(0.5);
      default: return add.graphics({ x: spec.x, y: spec.y }); // line, polygon
    }
  }

  /** Bring a node's looks up to date with its spec (shapes are redrawn only when they changed). */
  #style(entry, spec) {
    const node = entry.node;
    node.setDepth(spec.depth).setAlpha(spec.alpha);
    switch (spec.kind) {
      case "sprite":
        if (node.texture.key !== spec.texture || (spec.frame !== null && node.frame.name !== spec.frame)) {
          node.setTexture(spec.texture, spec.frame ?? undefined);
        }
        if (spec.width && spec.height) node.setDisplaySize(spec.width, spec.height);
        node.setFlipX(spec.flip_x);
        break;
      case "rect":
        node.setSize(spec.width, spec.height).setFillStyle(colour(spec.color));
        if (spec.stroke) node.setStrokeStyle(spec.stroke_width, colour(spec.stroke));
        break;
      case "circle":
        node.setRadius(spec.radius).setFillStyle(colour(spec.color));
        if (spec.stroke) node.setStrokeStyle(spec.stroke_width, colour(spec.stroke));
        break;
      case "text":
        node.setText(spec.text).setFontSize(spec.size).setColor(spec.color).setFontStyle(spec.bold ? "bold" : "");
        break;
      default: {
        const look = JSON.stringify([spec.points, spec.color, spec.stroke, spec.width, spec.stroke_width]);
        if (entry.drawn === look) break;
        entry.drawn = look;
        node.clear();
        if (spec.kind === "line") {
          node.lineStyle(spec.width, colour(spec.color)).strokePoints(points(spec.points));
        } else {
          node.fillStyle(colour(spec.color)).fillPoints(points(spec.points), true);
          if (spec.stroke) node.lineStyle(spec.stroke_width, colour(spec.stroke)).strokePoints(points(spec.points), true);
        }
      }
    }
  }
}
