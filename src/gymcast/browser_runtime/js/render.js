// Drawing: the newest frame from the worker goes on the canvas at the display's refresh rate.

const DRAW_TIMES_KEPT = 4096;

/** Append to a list that keeps only its latest DRAW_TIMES_KEPT entries. */
export function keep(list, value) {
  list.push(value);
  if (list.length > DRAW_TIMES_KEPT) list.shift();
}

/** Which steps reached the screen and when: `count` in all, `steps` as [episode, step, performance.now()] (the latest). */
export class DrawLog {
  constructor() {
    this.count = 0;
    this.steps = [];
  }

  record(at, now) {
    this.count += 1;
    keep(this.steps, [...at, now]);
  }

  times() {
    return this.steps.map(([, , time]) => time);
  }
}

/** Shows `ImageBitmap` frames scaled to the canvas; never waits for the worker. */
export class FrameView {
  constructor(canvas, width, height) {
    canvas.width = width;
    canvas.height = height;
    this.canvas = canvas;
    this.context = canvas.getContext("2d");
    this.latest = null;
    this.drawn = new DrawLog();
    requestAnimationFrame(() => this.#draw());
  }

  /** Queue the frame of [episode, step]; an undrawn older one is dropped (and closed) in its favour. */
  show(bitmap, at) {
    if (this.latest) this.latest.close();
    this.latest = bitmap;
    this.latestAt = at;
  }

  #draw() {
    if (this.latest) {
      this.context.drawImage(this.latest, 0, 0, this.canvas.width, this.canvas.height);
      this.latest.close();
      this.latest = null;
      this.drawn.record(this.latestAt, performance.now());
    }
    requestAnimationFrame(() => this.#draw());
  }
}

/** A message over the game, optionally with a button; `hide()` removes it. */
export class Overlay {
  constructor(element) {
    this.element = element;
  }

  show(text, buttonLabel = null) {
    this.element.replaceChildren(Object.assign(document.createElement("p"), { textContent: text }));
    this.element.hidden = false;
    if (!buttonLabel) return Promise.resolve();
    const button = Object.assign(document.createElement("button"), { textContent: buttonLabel, id: "start" });
    this.element.append(button);
    button.focus();
    return new Promise((resolve) => button.addEventListener("click", () => resolve(), { once: true }));
  }

  hide() {
    this.element.hidden = true;
  }
}
