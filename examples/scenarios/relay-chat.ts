// A chat room load test against the relay in broadcast mode (`npm start -- --mode broadcast`):
// each bot says a line a second and measures how long its own line takes to come back
// through the broadcast; it counts the other bots' lines.
//
//   npm run bench -- run examples/scenarios/relay-chat.ts --port 9099 -c 50 -d 20s
import { PyDatagram } from 'ringwire';
import { defineScenario } from 'ringwire-bench';

export default defineScenario({
  options: {
    bots: 20,
    duration: '15s',
    thresholds: {
      own_line_ms: ['p(99) < 100', 'p(50) < 25'],
      checks: ['rate > 0.999'],
      errors: ['count == 0'],
    },
  },
  async bot(b) {
    await b.connect();
    let said = 0;
    let heard = 0;
    b.onDatagram((it) => {
      const from = it.getUint32();
      const line = it.getUint32();
      const sentAt = it.getFloat64();
      if (from !== b.id) {
        b.counter('others_lines').add(1);
        return;
      }
      b.trend('own_line_ms').add(b.now() - sentAt);
      // The relay keeps each client's order: our own lines come back in the order said.
      b.check(line === heard, 'own lines come back in order');
      heard = line + 1;
    });
    b.every(1000, () => {
      const dg = new PyDatagram();
      dg.addUint32(b.id);
      dg.addUint32(said++);
      dg.addFloat64(b.now());
      b.send(dg);
    });
  },
});
