/** A startup problem the demo reports as one line (what is wrong and what to do), then exits 1. */
export class DemoError extends Error {
  override readonly name = 'DemoError';
}
