// Drawing: the newest frame from the worker goes on the canvas at the display's refresh rate.

const DRAW_TIMES_KEPT = 4096;

/** Shows `ImageBitmap` frames scaled to the canvas; never waits for the worker. */
export class FrameView {
  constructor(canvas, width, height) {
    canvas.width = width;
    canvas.height = height;
    this.canvas = canvas;
    this.context = canvas.getContext("2d");
    this.latest = null;
    this.framesDrawn = 0;
    this.drawTimes = []; // performance.now() of the latest new frames drawn, for frame-time figures
    requestAnimationFrame(() => this.#draw());
  }

  /** Queue a frame; an undrawn older one is dropped (and closed) in its favour. */
  show(bitmap) {
    if (this.latest) this.latest.close();
    this.latest = bitmap;
  }

  #draw() {
    if (this.latest) {
      this.context.drawImage(this.latest, 0, 0, this.canvas.width, this.canvas.height);
      this.latest.close();
      this.latest = null;
      this.framesDrawn += 1;
      this.drawTimes.push(performance.now());
      if (this.drawTimes.length > DRAW_TIMES_KEPT) this.drawTimes.shift();
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
