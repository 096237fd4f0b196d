/** The public counter's value (in memory, for the demo). */
let count = 0;

export const counter = {
  get: () => count,
  increment: () => ++count,
};
