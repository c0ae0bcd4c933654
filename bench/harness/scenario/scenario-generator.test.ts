/**
 * The scenario engine in this process, against real echo servers the harness starts:
 * WebSocket bots, the run's TCP header size, onBytes beside onDatagram, saturate() with
 * its own window, onStop and a run that ends when every bot has, every() with a first
 * delay and the calls intended before the end, and a bounded open model. Needs `npm run
 * build` first (the targets run compiled servers).
 */
import { PyDatagram } from 'ringwire';
import { describe, expect, it } from 'vitest';
import { withTarget } from '../test-helpers.js';
import { type ConnectOptions, defineScenario, type Scenario } from './define-scenario.js';
import { type GeneratorPlan, type GeneratorResult, ScenarioGenerator } from './scenario-generator.js';
import type { MetricSet } from './metrics.js';

function plan(port: number, overrides: Partial<GeneratorPlan> = {}): GeneratorPlan {
  return {
    index: 0,
    count: 1,
    host: '127.0.0.1',
    port,
    headerSize: 2,
    clientShards: 1,
    bots: 1,
    durationSeconds: 1,
    stages: null,
    arrivalRate: null,
    maxBots: 10_000,
    gracefulStopSeconds: 1,
    warmupSeconds: 0,
    ...overrides,
  };
}

function run(scenario: Scenario, generatorPlan: GeneratorPlan): Promise<GeneratorResult> {
  return new ScenarioGenerator(scenario as Scenario<unknown, Record<string, unknown>>, generatorPlan).run();
}

const counter = (result: GeneratorResult, name: string): number => (result.total as MetricSet).counters.get(name) ?? 0;

/** A bot that sends `count` numbered datagrams at once and checks that each comes back, in order, whole. */
function numberedEcho(count: number, connect: ConnectOptions): Scenario {
  return defineScenario({
    async bot(b) {
      await b.connect(connect);
      let next = 0;
      let bytesSeen = 0;
      b.onBytes((bytes, offset, length) => {
        // The same datagram as onDatagram's, in place: a u32 then the filler.
        b.check(length === 4 + 100 && bytes[offset + 4] === 7, 'bytes in place');
        bytesSeen++;
      });
      b.onDatagram((it) => {
        b.check(it.getUint32() === next++, 'in order');
        b.check(it.getRemainingSize() === 100, 'whole');
        if (next === count) {
          b.check(bytesSeen === count, 'onBytes saw each');
          b.counter('done').add(1);
          b.close();
        }
      });
      for (let i = 0; i < count; i++) {
        const dg = new PyDatagram();
        dg.addUint32(i);
        dg.appendData(new Uint8Array(100).fill(7));
        b.send(dg);
      }
    },
  });
}

describe('the scenario engine', () => {
  it('websocket bots: each datagram one binary message, echoed in order; onBytes sees it in place', async () => {
    await withTarget('ws', 2, async (target) => {
      const result = await run(numberedEcho(200, { websocket: true }), plan(target.port, { bots: 3, arrivalRate: 100, arrivals: 3 }));
      expect(counter(result, 'done')).toBe(3);
      expect(counter(result, 'datagrams_sent')).toBe(600);
      expect(counter(result, 'datagrams_received')).toBe(600);
      expect(counter(result, 'errors')).toBe(0);
      const checks = (result.total as MetricSet).checks;
      for (const name of ['bytes in place', 'in order', 'whole', 'onBytes saw each']) {
        const check = checks.get(name);
        expect(check?.total, name).toBeGreaterThan(0);
        expect(check?.passes, name).toBe(check?.total);
      }
    });
  });

  it("connect takes no header size of its own: Panda's is the run's (the reader's and the writer's)", async () => {
    await withTarget('ringwire-2', 4, async (target) => {
      // The run's header size, 4, for every bot.
      const fours = await run(numberedEcho(100, {}), plan(target.port, { headerSize: 4, arrivalRate: 100, arrivals: 2, bots: 0 }));
      expect(counter(fours, 'done')).toBe(2);
      expect(counter(fours, 'datagrams_received')).toBe(200);
      expect(counter(fours, 'errors')).toBe(0);
      // One bot asking for its own is an error, said as such.
      const own = await run(numberedEcho(1, { headerSize: 4 } as ConnectOptions), plan(target.port, { arrivalRate: 100, arrivals: 1, bots: 0 }));
      expect(own.errors).toEqual({ "TypeError: bot 0: connect takes no headerSize: Panda's header size is the run's (the scenario's options.headerSize, or --header-size)": 1 });
    });
  });

  it('saturate: sends within its window until the duration ends; onStop once; the run ends when every bot has', async () => {
    await withTarget('ringwire-2', 2, async (target) => {
      const scenario = defineScenario({
        async bot(b) {
          await b.connect();
          let inFlight = 0;
          let stopping = false;
          let sentAfterStop = 0;
          b.onDatagram(() => {
            inFlight--;
            b.counter('echoes').add(1);
            if (stopping && inFlight === 0) b.close();
          });
          b.saturate(() => {
            if (stopping) sentAfterStop++;
            if (inFlight >= 8) return false;
            const dg = new PyDatagram();
            dg.addUint32(0);
            if (!b.send(dg)) return false;
            inFlight++;
            b.gauge('most_in_flight').set(Math.max(inFlight, 0));
            b.check(inFlight <= 8, 'window kept');
            return true;
          });
          b.onStop(() => {
            b.counter('stops').add(1);
            stopping = true;
            b.check(sentAfterStop === 0, 'no saturate after stop');
            if (inFlight === 0) b.close();
          });
        },
      });
      // A graceful stop far longer than the run: it ends early because every bot closed.
      const result = await run(scenario, plan(target.port, { bots: 4, durationSeconds: 0.5, gracefulStopSeconds: 30 }));
      expect(result.elapsed).toBeLessThan(15);
      expect(counter(result, 'stops')).toBe(4);
      expect(counter(result, 'datagrams_sent')).toBeGreaterThan(100);
      expect(counter(result, 'echoes')).toBe(counter(result, 'datagrams_sent'));
      for (const name of ['window kept', 'no saturate after stop']) {
        const check = (result.total as MetricSet).checks.get(name)!;
        expect(check.passes, name).toBe(check.total);
      }
    });
  });

  it('every: the first call after `delay`, and every call intended before the end is made', async () => {
    await withTarget('ringwire-2', 2, async (target) => {
      const scenario = defineScenario({
        bot(b) {
          // No connection needed for timers. Intended before the 550 ms end: 0, 100, …, 500
          // with delay 0 (6 calls); 100, …, 500 with the default delay of one period (5).
          b.every(100, () => b.counter('no_delay').add(1), { delay: 0 });
          b.every(100, () => b.counter('default_delay').add(1));
          expect(() => b.every(100, () => {}, { delay: -1 })).toThrow(RangeError);
        },
      });
      const result = await run(scenario, plan(target.port, { bots: 1, durationSeconds: 0.55 }));
      expect(counter(result, 'no_delay')).toBe(6);
      expect(counter(result, 'default_delay')).toBe(5);
      expect(counter(result, 'errors')).toBe(0);
    });
  });

  it('a bounded open model starts exactly `arrivals` bots, never replacing one that ended', async () => {
    await withTarget('ringwire-2', 2, async (target) => {
      const scenario = defineScenario({
        async bot(b) {
          await b.connect();
          b.close();
        },
      });
      const result = await run(scenario, plan(target.port, { bots: 0, arrivalRate: 50, arrivals: 5, durationSeconds: 1 }));
      expect(counter(result, 'bots_started')).toBe(5);
      expect(counter(result, 'bots_connected')).toBe(5);
    });
  });
});
