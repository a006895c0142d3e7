// @ts-check
// Pointer and touch input on the page: clicks and taps on the game canvas (sent as canvas pixels),
// and, on touch devices, an on-screen button per key of the game's key maps that works like the key.

/** Labels for keys whose name is not what a button should say. */
const LABELS = { ArrowLeft: "←", ArrowRight: "→", ArrowUp: "↑", ArrowDown: "↓", " ": "Space" };

/** Whether the device has a touch screen (phones, tablets; Playwright's `has_touch`). */
export const isTouchDevice = () => matchMedia("(pointer: coarse)").matches || navigator.maxTouchPoints > 0;

/**
 * Send each click or tap on `canvas` to `onClick(x, y)` in canvas pixels (`width` x `height`), scaled
 * from the canvas's displayed size. Returns a function that stops listening.
 * @param {HTMLCanvasElement} canvas @param {number} width @param {number} height
 * @param {(x: number, y: number) => void} onClick
 */
export function captureClicks(canvas, width, height, onClick) {
  const handler = (/** @type {PointerEvent} */ event) => {
    const box = canvas.getBoundingClientRect();
    if (!box.width || !box.height) return;
    const x = ((event.clientX - box.left - canvas.clientLeft) * width) / canvas.clientWidth;
    const y = ((event.clientY - box.top - canvas.clientTop) * height) / canvas.clientHeight;
    if (x >= 0 && y >= 0 && x < width && y < height) onClick(x, y);
  };
  canvas.addEventListener("pointerdown", handler);
  return () => canvas.removeEventListener("pointerdown", handler);
}

/**
 * An on-screen button per key in `keys`, each with `data-key` set to the key's name: pressing and
 * holding it works like holding the key (`press` on pointerdown, `release` on pointerup or cancel).
 * @param {HTMLElement} container @param {string[]} keys
 * @param {{press: (key: string) => void, release: (key: string) => void}} keyboard
 */
export function showKeyButtons(container, keys, keyboard) {
  container.replaceChildren();
  for (const key of keys) {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.key = key;
    button.textContent = LABELS[key] ?? key;
    button.addEventListener("pointerdown", (event) => {
      event.preventDefault();
      try {
        button.setPointerCapture(event.pointerId); // the release reaches the button even off it
      } catch {
        // not a live pointer (a synthetic event): nothing to capture
      }
      keyboard.press(key);
    });
    for (const up of ["pointerup", "pointercancel", "lostpointercapture"]) button.addEventListener(up, () => keyboard.release(key));
    button.addEventListener("contextmenu", (event) => event.preventDefault());
    container.append(button);
  }
  container.hidden = keys.length === 0;
}
