/**
 * A value as an error message quotes it, with its type: `"1000" (string)`, `12 (number)`,
 * `an object (Map)`, `null`.
 */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return `${JSON.stringify(value)} (string)`;
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'function') return `function ${value.name || '(anonymous)'}`;
  if (typeof value === 'object') return `an object (${value.constructor?.name ?? 'null prototype'})`;
  return `${String(value)} (${typeof value})`;
}
