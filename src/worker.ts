/**
 * The body of one `--workers` thread (see workers.ts): attach a queue of the device the
 * main thread configured, run a stack and the services on it, answer stats requests,
 * and close on 'stop'.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { statsSnapshot } from './control/stats';
import { openStack, startFlaggedServices } from './run';
import type { FromWorker, ToWorker, WorkerData } from './workers';

async function main(): Promise<void> {
  const port = parentPort!;
  const { flags } = workerData as WorkerData;
  const post = (m: FromWorker): void => port.postMessage(m);
  let running;
  let services;
  try {
    running = openStack(flags, { multiQueue: true, attach: true });
    services = startFlaggedServices(running, flags);
    await services.ready;
  } catch (e) {
    running?.close();
    post({ type: 'error', message: (e as Error).message });
    return;
  }
  const stack = running;
  const svc = services;
  port.on('message', (m: ToWorker) => {
    if (m.type === 'stats') {
      post({ type: 'stats', id: m.id, reply: statsSnapshot(stack.tcp, stack.counters) });
    } else if (m.type === 'stop') {
      void (async () => {
        await Promise.race([svc.close(), new Promise((r) => setTimeout(r, 2000))]);
        stack.close();
        post({ type: 'stopped' });
        port.close();
      })();
    }
  });
  post({ type: 'ready', describe: stack.describe() });
}

void main();
