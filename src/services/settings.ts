import { readFileSync } from 'node:fs';
import { parseSettingsLenient, Settings } from '../shared/contract.ts';
import { writeJsonAtomic } from '../core/util/atomic-file.ts';

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
    this.#settings = settings;
    this.repaired = unreadable ? ['(unreadable settings file)'] : stored === undefined ? [] : repaired;
  }

  get(): Settings {
    return this.#settings;
  }

  async set(next: Settings): Promise<Settings> {
    this.#settings = Settings.parse(next);
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
