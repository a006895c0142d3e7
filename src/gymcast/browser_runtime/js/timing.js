// @ts-check
// Times as the logs carry them.

/** Milliseconds rounded to the microsecond. @param {number} ms */
export const round = (ms) => Math.round(ms * 1000) / 1000;
