import { parseArgs, type ParseArgsConfig } from 'node:util';

/** What every `kao` subcommand gets: where to write, and whether the user asked for JSON. */
export interface CliIO {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** Set by `--json`: print one JSON document on stdout, nothing else there. */
  json: boolean;
}

export interface CliCommand {
  name: string;
  summary: string;
  usage: string;
  run(argv: string[], io: CliIO): Promise<number>;
}

/** An error the CLI prints as one line and turns into a non-zero exit code. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** Strict argument parsing: unknown flags and missing values are usage errors (exit 2). */
export function parseCommandArgs<O extends NonNullable<ParseArgsConfig['options']>>(
  argv: string[],
  options: O,
  usage: string,
) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false });
  } catch (error) {
    throw new CliError(`${(error as Error).message}\nusage: ${usage}`, 2);
  }
}

export function intOption(value: string | undefined, name: string, min = 0): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min)
    throw new CliError(`--${name} must be an integer ≥ ${min}, got "${value}"`, 2);
  return n;
}

export function numberOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new CliError(`--${name} must be a number, got "${value}"`, 2);
  return n;
}

export function writeJson(io: CliIO, value: unknown): void {
  io.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

/**
 * A progress bar on stderr. On a terminal it redraws one line; elsewhere (CI, pipes) it prints a plain
 * line at most every few seconds so logs stay readable. Silent in --json mode? No: stderr is not stdout.
 */
export class ProgressBar {
  #lastPlain = 0;
  #drawn = false;
  constructor(
    private readonly io: CliIO,
    private readonly label: string,
  ) {}

  update(done: number, total: number | undefined, detail = ''): void {
    const stream = this.io.stderr;
    const pct = total ? Math.min(1, done / total) : undefined;
    if (stream.isTTY) {
      const width = 28;
      const bar =
        pct === undefined ? '' : '[' + '█'.repeat(Math.round(pct * width)).padEnd(width, '░') + '] ';
      const count = total ? `${done}/${total}` : `${done}`;
      const line = `${this.label} ${bar}${count} ${detail}`.slice(0, (stream.columns ?? 100) - 1);
      stream.write(`\r\x1b[2K${line}`);
      this.#drawn = true;
    } else {
      const now = Date.now();
      if (now - this.#lastPlain < 2000 && !(total !== undefined && done >= total)) return;
      this.#lastPlain = now;
      stream.write(`${this.label}: ${done}${total ? `/${total}` : ''} ${detail}\n`);
    }
  }

  done(): void {
    if (this.#drawn) this.io.stderr.write('\n');
    this.#drawn = false;
  }
}
