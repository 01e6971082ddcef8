import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import type { AppServices } from '../../src/services/app-services.ts';
import { createNodeAppServices } from '../../src/services/node-services.ts';
import type { EventName, EventOf, InvokeChannel, RequestOf, ResponseOf } from '../../src/shared/contract.ts';
import type { Envelope } from '../../src/shared/errors.ts';
import { makeTempDir } from './temp-dir.ts';

export interface ServicesUnderTest {
  services: AppServices;
  /** Holds `data/` and `config/`; a second instance on the same root sees the same data. */
  root: string;
  dataDir: string;
  configDir: string;
  call(channel: InvokeChannel, request: unknown): Promise<Envelope<unknown>>;
  /** The reply's value; throws with the error's code and message when the service refuses. */
  ok<C extends InvokeChannel>(channel: C, request: RequestOf<C>): Promise<ResponseOf<C>>;
}

/** A fresh folder for a test's data, removed when the test finishes. */
export async function testRoot(prefix: string): Promise<string> {
  const temp = await makeTempDir(prefix);
  onTestFinished(temp.cleanup);
  return temp.dir;
}

/** Real app services (the ones `kao serve` runs) on `root`'s data folder, disposed when the test finishes. */
export function startAppServices(root: string): ServicesUnderTest {
  const dataDir = join(root, 'data');
  const configDir = join(root, 'config');
  const services = createNodeAppServices({ configDir, dataDir });
  onTestFinished(() => services.dispose());
  const call = (channel: InvokeChannel, request: unknown) => services.dispatch(channel, request);
  return {
    services,
    root,
    dataDir,
    configDir,
    call,
    async ok<C extends InvokeChannel>(channel: C, request: RequestOf<C>): Promise<ResponseOf<C>> {
      const envelope = await call(channel, request);
      if (!envelope.ok) throw new Error(`${channel}: ${envelope.error.code}: ${envelope.error.message}`);
      return envelope.value as ResponseOf<C>;
    },
  };
}

export interface EventLog<E extends EventName> {
  /** Every event so far, cloned as a listener across a process boundary would see it. */
  events: EventOf<E>[];
  /** Resolves with the first event (past or future) matching `predicate`. */
  first(predicate: (event: EventOf<E>) => boolean): Promise<EventOf<E>>;
}

/** Records the services' `name` events from now on. */
export function recordEvents<E extends EventName>(services: AppServices, name: E): EventLog<E> {
  const events: EventOf<E>[] = [];
  const waiters: Array<() => boolean> = [];
  services.events.on(name, (event) => {
    events.push(structuredClone(event));
    for (const wake of [...waiters]) wake();
  });
  return {
    events,
    first: (predicate) =>
      new Promise((resolve) => {
        const check = (): boolean => {
          const found = events.find(predicate);
          if (!found) return false;
          waiters.splice(waiters.indexOf(check), 1);
          resolve(found);
          return true;
        };
        waiters.push(check);
        check();
      }),
  };
}
