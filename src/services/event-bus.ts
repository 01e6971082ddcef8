import type { EventName, EventOf } from '../shared/contract.ts';

type AnyListener = (event: EventName, payload: unknown) => void;

/** Services publish contract events here; each adapter (Electron IPC, web bridge) forwards them. */
export class EventBus {
  #listeners = new Set<AnyListener>();

  emit<E extends EventName>(event: E, payload: EventOf<E>): void {
    for (const listener of this.#listeners) listener(event, payload);
  }

  /** Receives every event; returns the unsubscribe function. */
  subscribe(listener: AnyListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  on<E extends EventName>(event: E, listener: (payload: EventOf<E>) => void): () => void {
    return this.subscribe((name, payload) => {
      if (name === event) listener(payload as EventOf<E>);
    });
  }
}
