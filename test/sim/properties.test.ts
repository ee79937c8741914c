/**
 * The simulator's main property: for any generated scenario (payloads up to ~2 MB each
 * way, loss up to 30%, reordering, duplication, corruption, delay and jitter, buffer
 * sizes, MTU, window scaling, timestamps, SACK, Nagle, read rates, close patterns),
 * every byte arrives intact and in order in both directions, both sides end in CLOSED or
 * TIME-WAIT (which then expires), no connection or timer is left, and the run ends within
 * its bounds of virtual time and steps. See README.md for the knobs and for replaying.
 */
import test from 'ava';
import { scenarioTests, simEnv } from './helpers/property';
import { arbScenario } from './helpers/scenario';

scenarioTests(test, 'test/sim/properties.test.ts', 'every byte arrives intact and in order, and both sides close cleanly', arbScenario, simEnv().scenarios);
