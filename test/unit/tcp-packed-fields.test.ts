/** packed-fields.ts: flags as bits and numbers in one double array behave as plain fields. */
import test from 'ava';
import { defineFlagFields, defineNumberFields, numberStore } from '../../src/tcp/packed-fields';
import { Connection } from '../../src/tcp/connection';

class Host {
  flagBits = 0;
  numbers = numberStore(HOST_NUMBERS);
  declare a: boolean;
  declare b: boolean;
  declare c: boolean;
  declare x: number;
  declare y: number;
  declare z: number;
}
defineFlagFields(Host.prototype, ['a', 'b', 'c']);
const HOST_NUMBERS = defineNumberFields(Host.prototype, { x: 0, y: Infinity, z: 5 });

test('each flag is its own bit; each number its own slot, with its initial value; instances are independent', (t) => {
  const h = new Host();
  const k = new Host();
  t.deepEqual([h.a, h.b, h.c], [false, false, false]);
  t.deepEqual([h.x, h.y, h.z], [0, Infinity, 5]);
  h.b = true;
  h.c = true;
  h.c = false;
  t.deepEqual([h.a, h.b, h.c], [false, true, false]);
  t.is(h.flagBits, 2);
  h.x = 0xffff_ffff;
  h.y = 1.7e12 + 0.25;
  t.deepEqual([h.x, h.y, h.z], [0xffff_ffff, 1.7e12 + 0.25, 5]);
  t.deepEqual([k.a, k.b, k.x, k.y], [false, false, 0, Infinity], 'another instance is untouched');
  t.throws(() => defineFlagFields({}, Array.from({ length: 31 }, (_, i) => `f${i}`)), { instanceOf: RangeError });
});

test('Connection keeps its sequence numbers, deadlines and flags as packed fields', (t) => {
  const proto = Connection.prototype as unknown as Record<string, unknown>;
  for (const name of ['sndUna', 'rcvNxt', 'rtoAt', 'timerKey', 'passive', 'tsOk', 'inRecovery']) {
    t.truthy(Object.getOwnPropertyDescriptor(proto, name)?.get, `${name} is a packed field`);
  }
});
