/**
 * A TypeScript module the smoke test's task module imports by relative path:
 * the pool strips it for the workers along with the task module.
 */

/** Typed on purpose: its text in a worker shows how its types were stripped. */
export function double(x: number): number {
  const factor: number = 2;
  return x * factor;
}
