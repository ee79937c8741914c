/**
 * A peer in CLOSING or LAST-ACK must take the ACK that a TIME-WAIT peer sends for its
 * retransmitted FIN (RFC 9293 §3.10.7.4). With timestamps negotiated, that ACK must carry
 * the timestamp option like every other segment of the connection (RFC 7323 §3.2: "MUST
 * be sent in every non-<RST> segment"), or the peer drops it as PAWS does (§3.2: a
 * segment without TSopt "SHOULD" be dropped) and leaves only by a reset when the record
 * expires.
 *
 * This was a real bug the simulator found: the compact TIME-WAIT record (src/tcp/time-wait.ts)
 * kept no timestamp state, so its ACK went out without options and was dropped.
 *
 * The counterexample fast-check found (seed 130621476): both sides offer
 * timestamps, no data, the client closes first, 12.5% loss; the client's ACK of the
 * server's FIN is lost, the server retransmits its FIN, the client's TIME-WAIT record
 * answers without timestamps, the server drops that ACK three times (t=610, 1410, 3010
 * ms) and ends by the RST it gets once the record has expired. Replay with a trace:
 *
 *   SIM_SCENARIO='{"seed":4285791227,"client":{"bytes":0,"recvBuffer":4096,"sendBuffer":4096,"windowScaling":false,"timestamps":true,"sack":false,"noDelay":false,"reader":null,"closeCall":"shutdown"},"server":{"bytes":0,"recvBuffer":4096,"sendBuffer":4096,"windowScaling":false,"timestamps":true,"sack":false,"noDelay":false,"reader":null,"closeCall":"shutdown"},"impair":{"loss":12.5,"reorder":0,"dup":0,"corrupt":0,"delay":1,"jitter":0},"shimOn":"client","latency":1,"mtu":1500,"close":"client-first","abortAt":0}' SIM_TRACE=1 npx ava test/sim/time-wait.test.ts
 */
import test from 'ava';
import { checkScenarios, simEnv } from './helpers/property';
import { arbCloseScenario } from './helpers/scenario';

test('an ACK from TIME-WAIT ends CLOSING and LAST-ACK when timestamps are on', (t) => {
  const env = simEnv();
  checkScenarios(t, 'test/sim/time-wait.test.ts', arbCloseScenario, 600, env.seed);
});
