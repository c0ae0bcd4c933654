// ringwire-bench's API for scenario files: `import { defineScenario } from 'ringwire-bench'`.
export {
  defineScenario,
  type Bot,
  type BotTimer,
  type ConnectOptions,
  type CounterHandle,
  type GaugeHandle,
  type RateHandle,
  type Scenario,
  type ScenarioOptions,
  type Stage,
  type TrendHandle,
} from './scenario/define-scenario.js';
export type { Thresholds, ThresholdSpec } from './scenario/thresholds.js';
