/**
 * Running scenarios as fast-check properties, with the environment knobs of the README:
 *
 * - `SIM_SCENARIOS=N`   how many scenarios properties.test.ts runs (default 2400);
 * - `SIM_SEED=N`        the fast-check seed of the first chunk (default: fixed, so
 *                       `npm test` is repeatable; `SIM_SEED=random` draws one);
 * - `SIM_PATH=...`      with SIM_SEED, replay exactly the (shrunk) counterexample;
 * - `SIM_SCENARIO=json` run one scenario given as JSON (as printed on failure);
 * - `SIM_TRACE=1`       print every packet, segment, state change and timer of the
 *                       scenarios run (use it with SIM_SCENARIO or SIM_PATH).
 *
 * Scenarios run in chunks of CHUNK, one AVA test each with seed SIM_SEED + i, so a long
 * nightly run reports progress (AVA's timeout is per test) and a failure names the seed
 * of its own chunk.
 */
import type { ExecutionContext, TestFn } from 'ava';
import fc from 'fast-check';
import { RunOptions, Scenario, ScenarioFailure, runScenario } from './scenario';

/** Scenarios properties.test.ts runs when SIM_SCENARIOS is unset (`npm test`). */
export const DEFAULT_SCENARIOS = 2400;
/** Scenarios per AVA test. */
export const CHUNK = 1000;
const DEFAULT_SEED = 130_621_476;

export interface SimEnv {
  scenarios: number;
  seed: number;
  path: string | undefined;
  scenario: Scenario | undefined;
  trace: boolean;
}

export function simEnv(): SimEnv {
  const env = process.env;
  const scenarios = env.SIM_SCENARIOS === undefined || env.SIM_SCENARIOS === '' ? DEFAULT_SCENARIOS : Number(env.SIM_SCENARIOS);
  if (!Number.isSafeInteger(scenarios) || scenarios < 1) throw new Error(`SIM_SCENARIOS must be a positive integer, got ${env.SIM_SCENARIOS}`);
  let seed = DEFAULT_SEED;
  if (env.SIM_SEED !== undefined && env.SIM_SEED !== '') {
    seed = env.SIM_SEED === 'random' ? Math.floor(Math.random() * 0x7fff_0000) : Number(env.SIM_SEED);
    if (!Number.isSafeInteger(seed)) throw new Error(`SIM_SEED must be an integer or "random", got ${env.SIM_SEED}`);
  }
  const scenario = env.SIM_SCENARIO ? (JSON.parse(env.SIM_SCENARIO) as Scenario) : undefined;
  return { scenarios, seed, path: env.SIM_PATH || undefined, scenario, trace: env.SIM_TRACE === '1' };
}

/**
 * Register the AVA tests that check `arb` over `count` scenarios (see the top of this
 * file for how the environment changes that). `file` is the test file, for the replay
 * commands printed on failure.
 */
export function scenarioTests(test: TestFn, file: string, title: string, arb: fc.Arbitrary<Scenario>, count: number, opts: RunOptions = {}): void {
  const env = simEnv();
  if (env.scenario !== undefined || env.path !== undefined) {
    test(`${title} (replay)`, (t) => checkScenarios(t, file, arb, 1, env.seed, opts));
    return;
  }
  const chunks = Math.ceil(count / CHUNK);
  for (let i = 0; i < chunks; i++) {
    const n = Math.min(CHUNK, count - i * CHUNK);
    const seed = env.seed + i;
    test(`${title} [${n} scenarios, seed ${seed}]`, (t) => checkScenarios(t, file, arb, n, seed, opts));
  }
}

/**
 * Check `runScenario` over `count` scenarios from `arb` with fast-check seed `seed`; on
 * failure, fail the test with the seed, the path, the shrunk counterexample (JSON) and the
 * commands that replay it.
 */
export function checkScenarios(t: ExecutionContext, file: string, arb: fc.Arbitrary<Scenario>, count: number, seed: number, opts: RunOptions = {}): void {
  const env = simEnv();
  if (env.scenario !== undefined) {
    const r = runScenario(env.scenario, { ...opts, echoTrace: env.trace, traceLines: 200 });
    t.log(`replayed one scenario: ${r.virtualMs} virtual ms, ${r.steps} steps, ${r.packets} packets`);
    t.pass();
    return;
  }
  const started = Date.now();
  let runs = 0;
  let virtualMs = 0;
  let packets = 0;
  let withRetransmits = 0;
  let withChecksumDrops = 0;
  const seen = new Map<string, number>();
  const details = fc.check(
    fc.property(arb, (s) => {
      runs++;
      const r = runScenario(s, { ...opts, echoTrace: env.trace });
      virtualMs += r.virtualMs;
      packets += r.packets;
      if (r.retransmits > 0) withRetransmits++;
      if (r.checksumDrops > 0) withChecksumDrops++;
      for (const x of r.coverage) seen.set(x, (seen.get(x) ?? 0) + 1);
    }),
    { seed, numRuns: count, path: env.path, endOnFailure: env.path !== undefined },
  );
  const summary = `${runs} scenarios, seed ${seed}, ${Date.now() - started} ms real, ${Math.round(virtualMs / 1000)} s virtual, ${packets} packets`;
  if (!details.failed) {
    t.log(summary);
    t.log(`with retransmissions: ${withRetransmits}; with checksum drops: ${withChecksumDrops}`);
    t.log(`transitions and timers (scenarios): ${[...seen].sort().map(([k, v]) => `${k} ${v}`).join(', ')}`);
    t.pass();
    return;
  }
  const example = details.counterexample?.[0];
  const err = details.errorInstance;
  // Run the shrunk counterexample once more, with a trace, for the report.
  let report = err instanceof Error ? err.message : String(err);
  if (example !== undefined) {
    try {
      runScenario(example, { ...opts, traceLines: 60 });
    } catch (e) {
      if (e instanceof ScenarioFailure) report = e.message;
      else report = `${report}\n${String(e)}`;
    }
  }
  const json = JSON.stringify(example);
  const message = [
    `simulator property failed (${summary}; shrunk ${details.numShrinks} times)`,
    report,
    `counterexample: ${json}`,
    `replay it:    SIM_SEED=${details.seed} SIM_PATH='${details.counterexamplePath ?? ''}' npx ava ${file}`,
    `or directly:  SIM_SCENARIO='${json}' SIM_TRACE=1 npx ava ${file}`,
  ].join('\n');
  t.fail(message);
}
