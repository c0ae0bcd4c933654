/**
 * How many cases a fuzz property runs: a bounded number in CI and `npm test`, many more
 * with `npm run fuzz` (RINGWIRE_FUZZ_RUNS=…).
 */
export function fuzzRuns(ciDefault: number): number {
  const asked = Number(process.env.RINGWIRE_FUZZ_RUNS);
  return Number.isInteger(asked) && asked > 0 ? asked : ciDefault;
}
