import { parseArgs, type ParseArgsConfig } from 'node:util';
import { RunControl } from '../core/util/run-control.ts';

/** What every `kao` subcommand gets: where to write, and whether the user asked for JSON. */
export interface CliIO {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** Set by `--json`: print one JSON document on stdout, nothing else there. */
  json: boolean;
}

/** A subcommand's module; its name and one-line summary are in the command table (commands/index.ts). */
export interface CliCommand {
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

/**
 * A subcommand whose arguments are parsed (strictly, see parseCommandArgs) against `options` before `run`
 * gets their values.
 */
export function defineCommand<O extends NonNullable<ParseArgsConfig['options']>>(
  usage: string,
  options: O,
  run: (values: ReturnType<typeof parseCommandArgs<O>>['values'], io: CliIO) => Promise<number>,
): CliCommand {
  return { usage, run: (argv, io) => run(parseCommandArgs(argv, options, usage).values, io) };
}

/** Strict argument parsing: unknown flags and missing values are usage errors (exit 2). */
export function parseCommandArgs<O extends NonNullable<ParseArgsConfig['options']>>(
  argv: string[],
  options: O,
  usage: string,
) {
  try {
    return parseArgs({
      args: joinNegativeValues(argv, options),
      options,
      strict: true,
      allowPositionals: false,
    });
  } catch (error) {
    throw new CliError(`${(error as Error).message}\nusage: ${usage}`, 2);
  }
}

/**
 * `--steps -5` reads to parseArgs as a flag followed by an unknown option ("argument is ambiguous"); a value
 * that looks like a negative number is joined to its flag (`--steps=-5`) so the range check can answer.
 */
function joinNegativeValues(argv: string[], options: NonNullable<ParseArgsConfig['options']>): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const next = argv[i + 1];
    const name = arg.startsWith('--') ? arg.slice(2) : undefined;
    if (name && options[name]?.type === 'string' && next !== undefined && /^-(\d|\.\d)/.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else out.push(arg);
  }
  return out;
}

/**
 * A RunControl that the first Ctrl-C (and each of `signals`) cancels, so a long job stops cleanly after
 * `onSignal`; a second one exits at once (130). `release` removes the handlers when the job is over.
 */
function cancelOnSignals(
  signals: NodeJS.Signals[],
  onSignal?: () => void,
): { control: RunControl; release: () => void } {
  const control = new RunControl();
  const handler = (): void => {
    if (control.cancelled) process.exit(130);
    onSignal?.();
    control.cancel('interrupted');
  };
  for (const signal of signals) process.on(signal, handler);
  return { control, release: () => signals.forEach((signal) => process.off(signal, handler)) };
}

/**
 * Runs a long job with a progress bar labelled `label` on stderr, cancelled by `signals` as cancelOnSignals
 * says; however the job ends, the bar's line is ended and the signal handlers are removed.
 */
export async function withProgress<T>(
  io: CliIO,
  { label, signals, onSignal }: { label: string; signals: NodeJS.Signals[]; onSignal?: () => void },
  job: (control: RunControl, bar: ProgressBar) => Promise<T>,
): Promise<T> {
  const { control, release } = cancelOnSignals(signals, onSignal);
  const bar = new ProgressBar(io, label);
  try {
    return await job(control, bar);
  } finally {
    bar.done();
    release();
  }
}

export function writeJson(io: CliIO, value: unknown): void {
  io.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

/** A command's result on stdout: `value` as JSON with --json, else the lines `describe` makes of it. */
export function writeResult<T>(io: CliIO, value: T, describe: (value: T) => string[]): void {
  if (io.json) writeJson(io, value);
  else io.stdout.write(describe(value).join('\n') + '\n');
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

  /** Writes a line of its own on stderr (a warning, a log line); the bar comes back on its next update. */
  print(line: string): void {
    this.done();
    this.io.stderr.write(`${line}\n`);
  }
}
