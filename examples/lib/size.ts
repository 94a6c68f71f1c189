/**
 * Each example runs at the size its joblib original uses, or at a small size
 * (`LARDER_EXAMPLE_SIZE=small` or `--small`) so CI can run every one of them
 * in seconds as a smoke test.
 */
export const small = process.env.LARDER_EXAMPLE_SIZE === 'small' || process.argv.includes('--small');

/** The default-size value, or the small one when the example runs small. */
export function sized<T>(defaultValue: T, smallValue: T): T {
  return small ? smallValue : defaultValue;
}
