import { execFile, fork, spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink } from 'node:fs/promises';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join, matchesGlob, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CASCADE_FILE_NAME } from '../../src/core/faces/cascade.ts';
import { facesDir, generatedIllustrationsDir } from '../helpers/shared-data.ts';

const repoRoot = resolve(import.meta.dirname, '../..');
const node = join(repoRoot, 'node_modules/.bin/node');

/**
 * The app as electron-builder packs it: the build (out/), the production node_modules, resources/ and
 * package.json side by side, with no src/ and no tsx in reach. The entry points run on plain Node.
 */
let build: string;
let app: string;

beforeAll(async () => {
  await mkdir(join(repoRoot, '.tmp'), { recursive: true });
  build = await mkdtemp(join(repoRoot, '.tmp', 'build-'));
  await promisify(execFile)(
    join(repoRoot, 'node_modules/.bin/electron-vite'),
    ['build', '--outDir', build, '--logLevel', 'error'],
    { cwd: repoRoot },
  );
  app = await mkdtemp(join(tmpdir(), 'kao-packed-'));
  await cp(join(build, 'main'), join(app, 'out', 'main'), { recursive: true });
  await cp(join(build, 'renderer'), join(app, 'out', 'renderer'), { recursive: true });
  await cp(join(repoRoot, 'resources'), join(app, 'resources'), { recursive: true });
  await cp(join(repoRoot, 'package.json'), join(app, 'package.json'));
  await symlink(join(repoRoot, 'node_modules'), join(app, 'node_modules'), 'dir');
  // A full build: ~10 s on an idle 2-core machine, minutes on a busy one.
}, 300_000);
afterAll(async () => {
  if (build) await rm(build, { recursive: true, force: true });
  if (app) await rm(app, { recursive: true, force: true });
});

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  // From a folder outside the repo, with an environment that could not load tsx even if asked.
  const child = spawn(node, [join(app, 'out/main/cli.js'), ...args], {
    cwd: app,
    env: { ...process.env, NODE_OPTIONS: '', KAO_CASCADE: '', KAO_GAN_WORKER: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((settle) => child.on('close', (code) => settle({ code, stdout, stderr })));
}

/** An entry's bundle, as the build names it (the path electron-vite's `?modulePath` import resolves to). */
async function builtEntry(source: string): Promise<string> {
  const chunks = join(app, 'out/main/chunks');
  for (const file of await readdir(chunks)) {
    const text = await readFile(join(chunks, file), 'utf8');
    const match = new RegExp(
      `// ${source.replace(/[.?]/g, '\\$&')}\\?modulePath\\s+var [\\w$]+ = join\\(import\\.meta\\.dirname, "\\./([^"]+)"\\)`,
    ).exec(text);
    if (match) return join(chunks, match[1]!);
  }
  throw new Error(`no bundled entry for ${source}`);
}

describe('the built app on plain Node (no tsx, no src/)', () => {
  it('has no path to the sources', () => {
    expect(existsSync(join(app, 'src'))).toBe(false);
    expect(existsSync(join(app, 'out/main/cli.js'))).toBe(true);
  });

  it('kao faces (CLI entry + faces worker bundle) runs offline with the shipped detector', async () => {
    const input = join(app, 'illustrations');
    await mkdir(input);
    for (const name of ['tadne_00.jpg', 'tadne_01.jpg', 'tadne_05.jpg'])
      await cp(join(generatedIllustrationsDir, name), join(input, name));
    const result = await run([
      'faces',
      '--in',
      input,
      '--out',
      join(app, 'faces'),
      '--workers',
      '2',
      '--json',
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      processed: 3,
      faces: 3,
      failures: [],
      workers: 2,
      cascade: { from: 'bundled', path: join(app, 'resources', CASCADE_FILE_NAME) },
    });
  }, 180_000);

  it('kao train (CLI entry + data-parallel worker bundle) trains and checkpoints', async () => {
    const runDir = join(app, 'run');
    const result = await run([
      'train',
      ...['--data', facesDir, '--run', runDir, '--preset', 'tiny', '--steps', '4', '--batch', '16'],
      ...[
        '--backend',
        'wasm',
        '--workers',
        '2',
        '--checkpoint-every',
        '2',
        '--sample-every',
        '0',
        '--swd-every',
        '0',
      ],
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^done at step 4\/4; checkpoint .*step-0*4\n$/);
    expect(readdirSync(join(runDir, 'checkpoints')).length).toBeGreaterThan(0);
  }, 180_000);

  it('kao serve (CLI entry) starts: it finds the app version and the built UI from out/main/', async () => {
    const child = spawn(
      node,
      [
        join(app, 'out/main/cli.js'),
        'serve',
        '--json',
        '--data',
        join(app, 'data'),
        '--config',
        join(app, 'config'),
      ],
      { cwd: app, env: { ...process.env, NODE_OPTIONS: '' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    try {
      const { origin } = await new Promise<{ origin: string }>((settle, reject) => {
        let out = '';
        let err = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          try {
            settle(JSON.parse(out) as { origin: string });
          } catch {
            // not complete yet
          }
        });
        child.stderr.on('data', (d: Buffer) => (err += d.toString()));
        child.once('exit', (code) => reject(new Error(`kao serve exited with ${code}: ${err}`)));
      });
      // It got as far as listening: package.json (its version) and the built UI were found from out/main/.
      expect(origin).toMatch(/^http:\/\/(127\.0\.0\.1|localhost):\d+$/);
    } finally {
      child.kill('SIGTERM');
    }
  }, 180_000);

  it('the trainer bundle answers the host protocol: a self-test and a step timing', async () => {
    const trainer = fork(await builtEntry('src/trainer/main.ts'), [], {
      cwd: app,
      execPath: node,
      execArgv: [],
      serialization: 'advanced',
      env: {
        ...process.env,
        NODE_OPTIONS: '',
        KAO_GAN_WORKER: await builtEntry('src/core/gan/parallel/worker.ts'),
      },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const replies = new Map<number, { ok: boolean; value?: unknown; error?: unknown }>();
    let ready = false;
    trainer.on('message', (m: { type: string; requestId?: number; ok?: boolean }) => {
      if (m.type === 'ready') ready = true;
      if (m.type === 'reply') replies.set(m.requestId!, m as { ok: boolean });
    });
    const reply = async (id: number) => {
      for (let waited = 0; !replies.has(id); waited += 50) {
        if (waited > 60_000) throw new Error(`no reply ${id}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      return replies.get(id)!;
    };
    try {
      trainer.send({ type: 'selfTest', requestId: 1, backend: 'cpu' });
      expect(await reply(1)).toMatchObject({ ok: true, value: { backend: { name: 'cpu' } } });
      expect(ready).toBe(true);
      trainer.send({ type: 'estimate', requestId: 2, preset: 'tiny', batchSize: 8, backend: 'wasm' });
      expect(await reply(2)).toMatchObject({ ok: true, value: { backend: { name: 'wasm' } } });
    } finally {
      trainer.kill();
    }
  }, 180_000);
});

describe('the packaging config (electron-builder.json)', () => {
  interface BuilderConfig {
    files: string[];
    asarUnpack: string[];
    icon: string;
    linux: { target: string[] };
    win: { target: string[] };
    mac: { target: string[] };
  }
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
    optionalDependencies: Record<string, string>;
  };
  const config = JSON.parse(readFileSync(join(repoRoot, 'electron-builder.json'), 'utf8')) as BuilderConfig;
  const packed = new Set([...Object.keys(pkg.dependencies), ...Object.keys(pkg.optionalDependencies)]);

  /** Packages the bundle loads at run time: its bare imports, dynamic imports and require.resolve()s. */
  function loadedPackages(dir: string): Set<string> {
    const found = new Set<string>();
    // A package specifier: not relative (no leading dot), no spaces or template pieces.
    const spec = String.raw`((?:@[\w.-]+/)?\w[\w.-]*(?:/[\w./-]+)?)`;
    const patterns = [
      new RegExp(String.raw`\bfrom\s*"${spec}"`, 'g'),
      new RegExp(String.raw`\bimport\(\s*"${spec}"\s*\)`, 'g'),
      new RegExp(String.raw`\bimportOptional\(\s*"${spec}"\s*\)`, 'g'),
      new RegExp(String.raw`\.resolve\(\s*"${spec}"\s*\)`, 'g'),
    ];
    const walk = (folder: string): void => {
      for (const entry of readdirSync(folder, { withFileTypes: true })) {
        const path = join(folder, entry.name);
        if (entry.isDirectory()) walk(path);
        else if (/\.(c?js|mjs)$/.test(entry.name)) {
          const text = readFileSync(path).toString();
          for (const pattern of patterns)
            for (const match of text.matchAll(pattern)) {
              const parts = match[1]!.split('/');
              found.add(parts[0]!.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!);
            }
        }
      }
    };
    walk(dir);
    return found;
  }

  it('packs out/ and resources/, and targets AppImage + deb, NSIS and dmg', () => {
    expect(config.files).toEqual(expect.arrayContaining(['out/**/*', 'resources/**/*', 'package.json']));
    expect(config.linux.target).toEqual(['AppImage', 'deb']);
    expect(config.win.target).toEqual(['nsis']);
    expect(config.mac.target).toEqual(['dmg']);
    expect(config.icon).toBe('resources/icon.png');
    // The icon is made from the SVG by `npm run icon` (part of `npm run dist`).
    expect(readFileSync(join(repoRoot, 'resources/icon.svg')).toString()).toMatch(/^<svg /);
  });

  it('every package the main bundle loads is a production dependency, so electron-builder packs it', () => {
    const loaded = loadedPackages(join(build, 'main'));
    const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
    const external = [...loaded].filter(
      (name) => !builtins.has(name) && !name.startsWith('node:') && name !== 'electron',
    );
    expect(external).toEqual(
      expect.arrayContaining(['@tensorflow/tfjs', 'sharp', 'webgpu', '@tensorflow/tfjs-backend-wasm']),
    );
    expect(external.filter((name) => !packed.has(name))).toEqual([]);
  });

  it('native modules, their libraries, the wasm binaries and resources/ are unpacked from the asar', () => {
    const unpacked = (path: string) => config.asarUnpack.some((glob) => matchesGlob(path, glob));
    const mustUnpack: string[] = [];
    const walk = (folder: string): void => {
      for (const entry of readdirSync(folder, { withFileTypes: true })) {
        const path = join(folder, entry.name);
        if (entry.isSymbolicLink()) continue;
        if (entry.isDirectory()) walk(path);
        else if (/\.(node|wasm|so(\.\d+)*|dylib|dll)$/.test(entry.name))
          mustUnpack.push(relative(repoRoot, path).split('\\').join('/'));
      }
    };
    for (const name of packed) {
      const dir = join(repoRoot, 'node_modules', name);
      if (existsSync(dir) && statSync(dir).isDirectory()) walk(dir);
    }
    // What this machine installed: sharp's addon and libvips, Dawn, tfjs' three wasm binaries.
    expect(mustUnpack).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^node_modules\/webgpu\/dist\/.*\/dawn\.node$/),
        'node_modules/@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm',
      ]),
    );
    expect(mustUnpack.filter((path) => !unpacked(path))).toEqual([]);
    // sharp's platform packages (@img/…) are its runtime: unpacked whole.
    expect(unpacked('node_modules/@img/sharp-linux-x64/lib/sharp-linux-x64.node')).toBe(true);
    expect(unpacked('node_modules/@img/sharp-libvips-linux-x64/lib/libvips-cpp.so.42')).toBe(true);
    for (const file of readdirSync(join(repoRoot, 'resources')))
      if (file !== 'icon.png') expect(unpacked(`resources/${file}`), file).toBe(true);
  });
});
