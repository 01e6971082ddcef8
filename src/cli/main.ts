import { commandTable } from './commands/index.ts';
import { CliError, type CliIO } from './command.ts';
import { setLockHolderName } from '../core/folder-lock.ts';

const HELP = `Kao Studio (顔) — anime face GAN studio, headless.

usage: kao <command> [options]      (kao <command> --help for its options)

commands:
${commandTable.map((c) => `  ${c.name.padEnd(10)} ${c.summary}`).join('\n')}

Global: --json prints machine-readable output on stdout.`;

export async function main(argv: string[]): Promise<number> {
  const io: CliIO = { stdout: process.stdout, stderr: process.stderr, json: argv.includes('--json') };
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(HELP + '\n');
    return name ? 0 : 2;
  }
  const entry = commandTable.find((c) => c.name === name);
  if (!entry) {
    process.stderr.write(`kao: unknown command "${name}" (try kao --help)\n`);
    return 2;
  }
  // Named in the folder locks this command takes, for whoever it refuses: `kao crawl`, `kao serve`.
  setLockHolderName(`kao ${name}`);
  try {
    const command = await entry.load();
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(`${entry.summary}\n\nusage: ${command.usage}\n`);
      return 0;
    }
    return await command.run(
      rest.filter((a) => a !== '--json'),
      io,
    );
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`kao ${name}: ${message.split('\n').join('\n  ')}\n`);
    return error instanceof CliError ? error.exitCode : 1;
  } finally {
    // A command that ran on WebGPU holds the GPU, which keeps Node running: let it go (loaded only then).
    if (globalThis.navigator && 'gpu' in globalThis.navigator) {
      const { releaseWebGpu } = await import('../core/gan/backend.ts');
      await releaseWebGpu();
    }
  }
}
