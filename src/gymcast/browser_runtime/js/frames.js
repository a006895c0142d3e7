// @ts-check
// A game's frame (pixels from Python) as an ImageBitmap the page can draw.

/**
 * The current frame of `game` (a WorkerGame) as an ImageBitmap; RGB frames are expanded to RGBA.
 * @param {any} game @returns {Promise<ImageBitmap>}
 */
export function frameBitmap(game) {
  const frame = game.frame_bytes();
  const [height, width, channels, bytes] = frame.toJs();
  frame.destroy();
  const pixels = channels === 4 ? new Uint8ClampedArray(bytes.buffer, bytes.byteOffset, bytes.byteLength) : rgbToRgba(bytes);
  return createImageBitmap(new ImageData(pixels, width, height));
}

/** @param {Uint8Array} rgb */
function rgbToRgba(rgb) {
  const rgba = new Uint8ClampedArray((rgb.length / 3) * 4);
  for (let from = 0, to = 0; from < rgb.length; from += 3, to += 4) {
    rgba[to] = rgb[from];
    rgba[to + 1] = rgb[from + 1];
    rgba[to + 2] = rgb[from + 2];
    rgba[to + 3] = 255;
  }
  return rgba;
}
