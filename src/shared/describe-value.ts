/**
 * A value as an error message quotes it, with its type: `"1000" (string)`, `12 (number)`,
 * `5n (bigint)`, `an object (Map)`, `a Promise`, `function f`, `null`, `undefined`. Long
 * strings are cut to 40 characters.
 */
export function describeValue(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return `${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)} (string)`;
    case 'bigint':
      return `${value}n (bigint)`;
    case 'number':
      return `${Object.is(value, -0) ? '-0' : String(value)} (number)`;
    case 'boolean':
      return `${String(value)} (boolean)`;
    case 'function':
      return `function ${value.name || '(anonymous)'}`;
    case 'object': {
      if (value === null) return 'null';
      if (typeof (value as { then?: unknown }).then === 'function') return 'a Promise';
      return `an object (${(value as object).constructor?.name ?? 'null prototype'})`;
    }
    default:
      return String(value);
  }
}
