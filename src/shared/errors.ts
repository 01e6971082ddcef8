import { z } from 'zod';

/** Errors cross every boundary (IPC, WebSocket, trainer process) as this plain shape. */
export const ErrorCode = z.enum([
  'invalid-input',
  'unknown-channel',
  'not-found',
  /** An export would replace an existing file: ask the user, then repeat with `overwrite: true`. */
  'exists',
  'unsupported',
  'busy',
  'cancelled',
  'trainer-crashed',
  'protocol',
  'internal',
]);
export type ErrorCode = z.infer<typeof ErrorCode>;

export const WireError = z.object({
  code: ErrorCode,
  message: z.string(),
  /** Which fields were wrong, for invalid-input. */
  issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});
export type WireError = z.infer<typeof WireError>;

export class KaoError extends Error {
  override readonly name = 'KaoError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly issues?: WireError['issues'],
  ) {
    super(message);
  }
  toWire(): WireError {
    return { code: this.code, message: this.message, ...(this.issues ? { issues: this.issues } : {}) };
  }
  static fromWire(wire: WireError): KaoError {
    return new KaoError(wire.code, wire.message, wire.issues);
  }
}

export function toWireError(error: unknown): WireError {
  if (error instanceof KaoError) return error.toWire();
  if (error instanceof Error && error.name === 'CancelledError')
    return { code: 'cancelled', message: error.message };
  const message = error instanceof Error ? error.message : String(error);
  return { code: 'internal', message };
}

/** The envelope every invoke answers with, so typed errors survive transports that flatten exceptions. */
export type Envelope<T> = { ok: true; value: T } | { ok: false; error: WireError };
