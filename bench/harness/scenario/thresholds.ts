/**
 * Thresholds, as k6 writes them: per metric, a list of short expressions `AGG OP NUMBER`,
 * judged on the metrics merged from every generator, once a second while the run goes on
 * (a failing one with abortOnFail ends the run) and at its end (any failing one makes the
 * exit status 99).
 *
 *   trends    p(N) (0–100), avg, min, max, med, count
 *   counters  count, rate (per second of the run)
 *   rates     rate (0–1), and `checks` is the rate of every check
 *   gauges    value, min, max
 *
 * Operators: <, <=, >, >=, ==, !=. A threshold without a value fails, and says why: no
 * sample yet ("no data"), no metric of that name, or an aggregate its kind has not.
 */
import { secondsIn } from '../flag-values.js';
import { type MetricSet, summarizeTrend, trendPercentile } from './metrics.js';

export interface ThresholdSpec {
  threshold: string;
  /** End the run as soon as this threshold fails (after delayAbortEval). */
  abortOnFail?: boolean;
  /** How long into the run before abortOnFail is judged: '10s', '500ms', 10 (seconds). */
  delayAbortEval?: string | number;
}

/** `options.thresholds`: metric name → expressions. */
export type Thresholds = Record<string, (string | ThresholdSpec)[]>;

export type Aggregate = { kind: 'p'; percentile: number } | { kind: 'avg' | 'min' | 'max' | 'med' | 'count' | 'rate' | 'value' };
type Operator = '<' | '<=' | '>' | '>=' | '==' | '!=';

export interface Threshold {
  metric: string;
  source: string;
  aggregate: Aggregate;
  operator: Operator;
  bound: number;
  abortOnFail: boolean;
  delayAbortSeconds: number;
}

export interface ThresholdResult {
  metric: string;
  source: string;
  ok: boolean;
  /** The aggregate's value, or null when there is none (then `note` says why). */
  actual: number | null;
  /** Why there is no value: no such metric, an aggregate that does not apply to its kind, or no data yet. */
  note?: string;
}

const EXPRESSION = /^\s*(p\(\s*(\d+(?:\.\d+)?)\s*\)|avg|min|max|med|count|rate|value)\s*(<=|>=|==|!=|<|>)\s*(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)\s*$/i;

/** Seconds in '10s', '1.5m', '500ms', '2h' or a number (seconds); throws a RangeError naming `what`. */
export function parseSeconds(value: string | number, what: string): number {
  const seconds = typeof value === 'number' ? value : typeof value === 'string' ? secondsIn(value) : Number.NaN;
  if (Number.isFinite(seconds) && seconds >= 0) return seconds;
  throw new RangeError(`${what} must be a duration such as 30s, 1.5m, 500ms or a number of seconds, got ${JSON.stringify(value)}`);
}

/** Parses one expression for `metric`; throws a RangeError that quotes it. */
export function parseThreshold(metric: string, spec: string | ThresholdSpec): Threshold {
  const source = typeof spec === 'string' ? spec : spec?.threshold;
  if (typeof source !== 'string') throw new RangeError(`threshold for ${metric} must be a string or { threshold, abortOnFail? }, got ${JSON.stringify(spec)}`);
  const match = EXPRESSION.exec(source);
  if (!match) {
    throw new RangeError(`threshold ${JSON.stringify(source)} for ${metric} is not AGG OP NUMBER (AGG: p(N), avg, min, max, med, count, rate, value; OP: < <= > >= == !=)`);
  }
  let aggregate: Aggregate;
  if (match[2] !== undefined) {
    const percentile = Number(match[2]);
    if (percentile > 100) throw new RangeError(`threshold ${JSON.stringify(source)} for ${metric}: a percentile is at most 100`);
    aggregate = { kind: 'p', percentile };
  } else {
    aggregate = { kind: match[1].toLowerCase() as 'avg' };
  }
  const options: Partial<ThresholdSpec> = typeof spec === 'string' ? {} : spec;
  return {
    metric,
    source: source.trim(),
    aggregate,
    operator: match[3] as Operator,
    bound: Number(match[4]),
    abortOnFail: options.abortOnFail === true,
    delayAbortSeconds: options.delayAbortEval === undefined ? 0 : parseSeconds(options.delayAbortEval, `delayAbortEval of ${metric}`),
  };
}

/** Every threshold of `options.thresholds` and of `--threshold NAME:EXPR` flags. */
export function parseThresholds(thresholds: Thresholds | undefined, flags: readonly string[] = []): Threshold[] {
  const out: Threshold[] = [];
  for (const [metric, list] of Object.entries(thresholds ?? {})) {
    if (!Array.isArray(list)) throw new RangeError(`options.thresholds.${metric} must be a list of expressions, got ${JSON.stringify(list)}`);
    for (const spec of list) out.push(parseThreshold(metric, spec));
  }
  for (const flag of flags) {
    const colon = flag.indexOf(':');
    if (colon <= 0) throw new RangeError(`--threshold must be NAME:EXPR (e.g. 'input_to_state:p(99) < 50'), got ${JSON.stringify(flag)}`);
    out.push(parseThreshold(flag.slice(0, colon).trim(), flag.slice(colon + 1)));
  }
  return out;
}

const APPLIES: Record<string, readonly string[]> = {
  trend: ['p', 'med', 'count', 'avg', 'min', 'max'],
  counter: ['count', 'rate'],
  rate: ['rate', 'count'],
  gauge: ['value', 'min', 'max'],
};

/** The aggregate's value on the merged metrics, or why there is none. */
function valueOf(threshold: Threshold, metrics: MetricSet, elapsedSeconds: number): { actual: number | null; note?: string } {
  const { metric, aggregate } = threshold;
  const kind = aggregate.kind;
  const shown = kind === 'p' ? 'p(N)' : kind;
  const notFor = (what: string): { actual: null; note: string } => ({ actual: null, note: `${shown} does not apply to a ${what}: use ${APPLIES[what].map((k) => (k === 'p' ? 'p(N)' : k)).join(', ')}` });
  const trend = metrics.trends.get(metric);
  if (trend !== undefined) {
    if (!APPLIES.trend.includes(kind)) return notFor('trend');
    if (kind === 'count') return { actual: trend.totalCount };
    if (trend.totalCount === 0) return { actual: null, note: 'no data' };
    if (aggregate.kind === 'p') return { actual: trendPercentile(trend, aggregate.percentile) };
    if (kind === 'med') return { actual: trendPercentile(trend, 50) };
    const summary = summarizeTrend(trend);
    return { actual: kind === 'avg' ? summary.avg : kind === 'min' ? summary.min : summary.max };
  }
  const counter = metrics.counters.get(metric);
  if (counter !== undefined) {
    if (!APPLIES.counter.includes(kind)) return notFor('counter');
    if (kind === 'count') return { actual: counter };
    return elapsedSeconds > 0 ? { actual: counter / elapsedSeconds } : { actual: null, note: 'no data' };
  }
  const rate = metric === 'checks' && metrics.checks.size > 0 ? metrics.checksTotal() : (metrics.rates.get(metric) ?? metrics.checks.get(metric));
  if (rate !== undefined) {
    if (!APPLIES.rate.includes(kind)) return notFor('rate');
    if (rate.total === 0) return { actual: null, note: 'no data' };
    return { actual: kind === 'rate' ? rate.passes / rate.total : rate.passes };
  }
  const gauge = metrics.gauges.get(metric);
  if (gauge !== undefined) {
    if (!APPLIES.gauge.includes(kind)) return notFor('gauge');
    return { actual: kind === 'value' ? gauge.value : kind === 'min' ? gauge.min : gauge.max };
  }
  return { actual: null, note: metric === 'checks' ? 'no check was made' : `no metric named ${metric} (yet)` };
}

function holds(actual: number, operator: Operator, bound: number): boolean {
  switch (operator) {
    case '<':
      return actual < bound;
    case '<=':
      return actual <= bound;
    case '>':
      return actual > bound;
    case '>=':
      return actual >= bound;
    case '==':
      return actual === bound;
    case '!=':
      return actual !== bound;
  }
}

/** Judges every threshold on `metrics` (merged), `elapsedSeconds` into the run. */
export function judge(thresholds: readonly Threshold[], metrics: MetricSet, elapsedSeconds: number): ThresholdResult[] {
  return thresholds.map((threshold) => {
    const { actual, note } = valueOf(threshold, metrics, elapsedSeconds);
    const result: ThresholdResult = { metric: threshold.metric, source: threshold.source, ok: actual !== null && holds(actual, threshold.operator, threshold.bound), actual };
    if (note !== undefined) result.note = note;
    return result;
  });
}

/** The first threshold with abortOnFail that fails now (past its delay), or null. */
export function abortingFailure(thresholds: readonly Threshold[], results: readonly ThresholdResult[], elapsedSeconds: number): ThresholdResult | null {
  for (let i = 0; i < thresholds.length; i++) {
    const threshold = thresholds[i];
    // "No data" never aborts: a metric may simply not have started yet.
    if (threshold.abortOnFail && elapsedSeconds >= threshold.delayAbortSeconds && !results[i].ok && results[i].actual !== null) return results[i];
  }
  return null;
}
