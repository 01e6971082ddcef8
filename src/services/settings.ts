import { readFileSync } from 'node:fs';
import { parseSettingsLenient, Settings } from '../shared/contract.ts';
import { writeJsonAtomic } from '../core/util/atomic-file.ts';
import { assertDataDir, dataDirProblem } from './data-dir.ts';

/** Where settings live: electron-store in the app, a JSON file for `kao serve` and tests. */
export interface SettingsStore {
  /** The raw stored value, or undefined when nothing was stored or it could not be read. */
  read(): unknown;
  write(settings: Settings): Promise<void> | void;
}

export class SettingsService {
  #settings: Settings;
  readonly repaired: string[];

  constructor(
    private readonly store: SettingsStore,
    private readonly dataDirDefault: string,
  ) {
    let stored: unknown;
    let unreadable = false;
    try {
      stored = store.read();
    } catch {
      unreadable = true;
    }
    const { settings, repaired } = parseSettingsLenient(stored, dataDirDefault);
    // A stored data folder that may not be one (`/`, the home folder, a relative path) falls back too.
    if (settings.dataDir !== dataDirDefault && dataDirProblem(settings.dataDir)) {
      settings.dataDir = dataDirDefault;
      repaired.push('dataDir');
    }
    this.#settings = settings;
    this.repaired = unreadable ? ['(unreadable settings file)'] : stored === undefined ? [] : repaired;
  }

  get(): Settings {
    return this.#settings;
  }

  /** Saves new settings; a changed data folder must pass `assertDataDir` (else `invalid-input`). */
  async set(next: Settings): Promise<Settings> {
    const parsed = Settings.parse(next);
    if (parsed.dataDir !== this.#settings.dataDir) await assertDataDir(parsed.dataDir);
    this.#settings = parsed;
    await this.store.write(this.#settings);
    return this.#settings;
  }

  async reset(): Promise<Settings> {
    return this.set(parseSettingsLenient({}, this.dataDirDefault).settings);
  }
}

/** A JSON settings file written atomically; `read` throws on an unreadable file, and defaults apply. */
export function jsonFileSettingsStore(path: string): SettingsStore {
  return {
    read() {
      try {
        return JSON.parse(readFileSync(path, 'utf8')) as unknown;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error;
      }
    },
    write: (settings) => writeJsonAtomic(path, settings),
  };
}
