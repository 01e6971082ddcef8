import type { z } from 'zod';
import {
  invokeContract,
  isInvokeChannel,
  type InvokeChannel,
  type ParsedRequestOf,
  type ResponseOf,
} from '../shared/contract.ts';
import { KaoError, toWireError, type Envelope } from '../shared/errors.ts';

export type Handlers = {
  [C in InvokeChannel]: (request: ParsedRequestOf<C>) => Promise<ResponseOf<C>>;
};

/** The contract's invoke channels of one namespace (`'faces'` → `'faces.state'`, `'faces.list'`, …). */
export type ChannelsOf<Namespace extends string> = Extract<InvokeChannel, `${Namespace}.${string}`>;

/**
 * The single entry for every request from any adapter: unknown channels and invalid requests are
 * answered with a typed error before any service runs, and nothing a handler throws escapes untyped.
 */
export function createDispatcher(handlers: Handlers) {
  return async function dispatch(channel: unknown, rawRequest: unknown): Promise<Envelope<unknown>> {
    try {
      if (!isInvokeChannel(channel)) {
        throw new KaoError(
          'unknown-channel',
          `Unknown channel ${JSON.stringify(String(channel)).slice(0, 120)}`,
        );
      }
      const parsed = invokeContract[channel].request.safeParse(rawRequest ?? {});
      if (!parsed.success) throw invalidInput(channel, parsed.error);
      const handler = handlers[channel] as (request: unknown) => Promise<unknown>;
      const value = await handler(parsed.data);
      return { ok: true, value };
    } catch (error) {
      return { ok: false, error: toWireError(error) };
    }
  };
}
export type Dispatch = ReturnType<typeof createDispatcher>;

function invalidInput(channel: string, error: z.ZodError): KaoError {
  const issues = error.issues.map((i) => ({ path: i.path.join('.') || '(request)', message: i.message }));
  const summary = issues.map((i) => `${i.path}: ${i.message}`).join('; ');
  return new KaoError('invalid-input', `Invalid request for ${channel}: ${summary}`, issues);
}
