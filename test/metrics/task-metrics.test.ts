/**
 * `registerMetrics(taskManager, { registry })`: the game loop's frames as Prometheus reads
 * them. Frame durations have only lower bounds here (a task that spins N ms took at least
 * N ms); the counts are exact.
 */
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { TaskManager } from '../../src/main/api/task-manager.js';
import { registerMetrics } from '../../src/metrics/register-metrics.js';
import { promtoolCheck } from '../helpers/prometheus.js';

/** Keeps the thread busy for `ms` (a frame that takes at least that long). */
function spin(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy
  }
}

/** name{labels} → value. */
async function samples(registry: Registry): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const family of await registry.getMetricsAsJSON()) {
    for (const value of family.values) {
      const name = (value as { metricName?: string }).metricName ?? family.name;
      const labels = Object.entries(value.labels)
        .map(([k, v]) => `${k}="${v}"`)
        .join(',');
      out.set(labels === '' ? name : `${name}{${labels}}`, value.value);
    }
  }
  return out;
}

describe('registerMetrics(taskManager, { registry })', () => {
  it('frame durations as a histogram, overruns of the fixed step, frames and their rate, the event loop delay', async () => {
    const tasks = new TaskManager();
    const registry = new Registry();
    const metrics = registerMetrics(tasks, { registry });
    let frame = 0;
    // At 100 steps a second a frame has 10 ms: every third one spins 12 ms and overruns.
    tasks.add(() => {
      frame++;
      if (frame % 3 === 0) spin(12);
      if (frame === 12) tasks.stop();
      return 1; // Task.cont
    }, 'work');
    await tasks.run({ fixedRate: 100 });
    expect(frame).toBe(12);

    const values = await samples(registry);
    expect(values.get('ringwire_tick_duration_seconds_count')).toBe(12);
    expect(values.get('ringwire_tick_duration_seconds_bucket{le="+Inf"}')).toBe(12);
    // The four spinning frames took at least 12 ms: none of them is under 8 ms.
    expect(values.get('ringwire_tick_duration_seconds_bucket{le="0.008"}')).toBeLessThanOrEqual(8);
    expect(values.get('ringwire_tick_duration_seconds_sum')).toBeGreaterThanOrEqual(0.048);
    expect(values.get('ringwire_ticks_overrun_total')).toBeGreaterThanOrEqual(4);
    expect(values.get('ringwire_ticks_overrun_total')).toBeLessThanOrEqual(12);
    expect(values.get('ringwire_frames_total')).toBe(12);
    expect(values.get('ringwire_frame_rate')).toBeGreaterThan(0);
    // Buckets are cumulative.
    const buckets = [...values].filter(([name]) => name.startsWith('ringwire_tick_duration_seconds_bucket')).map(([, value]) => value);
    for (let i = 1; i < buckets.length; i++) expect(buckets[i]).toBeGreaterThanOrEqual(buckets[i - 1]);

    // The event loop delay monitor samples every 10 ms: poll until it has (its count only grows).
    const deadline = Date.now() + 5000;
    let text = await registry.metrics();
    while (!/^ringwire_event_loop_delay_seconds_count [1-9]/m.test(text)) {
      if (Date.now() > deadline) throw new Error(`no event loop delay sample within 5 s:\n${text}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
      text = await registry.metrics();
    }
    expect(text).toMatch(/^ringwire_event_loop_delay_seconds\{quantile="0\.99"\} /m);
    const check = promtoolCheck(text);
    expect(check.output).toBe('');
    expect(check.status).toBe(0);

    // step() outside a run cannot overrun: it has no frame to overrun.
    tasks.add(() => {
      spin(12);
      return 0; // Task.done
    }, 'once');
    tasks.step();
    expect(tasks.getFrameStats().overruns).toBe(values.get('ringwire_ticks_overrun_total'));
    expect(tasks.getFrameStats().frames).toBe(13);

    expect(metrics.names).toContain('ringwire_tick_duration_seconds');
    metrics.remove();
    expect(await registry.getMetricsAsJSON()).toEqual([]);
  });

  it('refuses what is neither a manager nor a TaskManager', () => {
    expect(() => registerMetrics({} as never, { registry: new Registry() })).toThrow(TypeError);
  });
});
