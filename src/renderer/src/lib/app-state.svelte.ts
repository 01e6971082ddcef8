import { createContext } from 'svelte';
import type { AppInfo, Settings, TrainerStatus } from '../../../shared/contract.ts';
import { kao } from './api.ts';
import { errorMessage } from './format.ts';

export const screens = [
  { id: 'dataset', label: 'Dataset', key: '1' },
  { id: 'faces', label: 'Faces', key: '2' },
  { id: 'training', label: 'Training', key: '3' },
  { id: 'explorer', label: 'Explorer', key: '4' },
  { id: 'favorites', label: 'Favorites', key: '5' },
  { id: 'settings', label: 'Settings', key: '6' },
] as const;
export type ScreenId = (typeof screens)[number]['id'];

/** How long a toast stays: long enough to read, short enough not to sit over the charts. */
const TOAST_MS = 6000;
const ERROR_TOAST_MS = 12_000;

export interface Notice {
  id: number;
  level: 'info' | 'warning' | 'error';
  message: string;
}

/** How a screen's state raises a toast (AppState.notify, handed in by App.svelte). */
export type Notify = (level: Notice['level'], message: string) => void;

/** App-wide state: which screen, settings, trainer status, notices. Fed by window.kao subscriptions. */
export class AppState {
  screen = $state<ScreenId>(readScreenFromHash());
  info = $state<AppInfo | undefined>();
  settings = $state<Settings | undefined>();
  trainer = $state<TrainerStatus>({ state: 'stopped' });
  notices = $state<Notice[]>([]);
  systemDark = $state(matchMedia('(prefers-color-scheme: dark)').matches);
  loadError = $state<string | undefined>();
  #nextNotice = 1;

  theme = $derived.by(() => {
    const choice = this.settings?.theme ?? 'system';
    return choice === 'system' ? (this.systemDark ? 'dark' : 'light') : choice;
  });

  async load(): Promise<void> {
    try {
      [this.info, this.settings, this.trainer] = await Promise.all([
        kao.invoke('app.info', {}),
        kao.invoke('settings.get', {}),
        kao.invoke('trainer.status', {}),
      ]);
      if (this.info.repairedSettings.length) {
        this.notify(
          'warning',
          `Some settings could not be read and were reset: ${this.info.repairedSettings.join(', ')}.`,
        );
      }
    } catch (error) {
      this.loadError = errorMessage(error);
    }
  }

  /** Subscribes to app-wide events; returns the cleanup. */
  connect(): () => void {
    const media = matchMedia('(prefers-color-scheme: dark)');
    const onScheme = (e: MediaQueryListEvent): void => {
      this.systemDark = e.matches;
    };
    media.addEventListener('change', onScheme);
    const onHash = (): void => {
      this.screen = readScreenFromHash();
    };
    addEventListener('hashchange', onHash);
    const offs = [
      kao.on('trainer.status', (status) => (this.trainer = status)),
      kao.on('app.notice', (notice) => this.notify(notice.level, notice.message)),
    ];
    return () => {
      media.removeEventListener('change', onScheme);
      removeEventListener('hashchange', onHash);
      offs.forEach((off) => off());
    };
  }

  go(screen: ScreenId): void {
    this.screen = screen;
    history.replaceState(null, '', `#${screen}`);
  }

  async saveSettings(next: Settings): Promise<void> {
    try {
      this.settings = await kao.invoke('settings.set', next);
    } catch (error) {
      this.notify('error', errorMessage(error));
      throw error;
    }
  }

  /**
   * One toast per event: the same message already showing is not stacked again (its timer restarts).
   * Every toast expires; errors stay longer, and whatever they report also lives on its own screen.
   */
  notify(level: Notice['level'], message: string): void {
    const same = this.notices.find((n) => n.level === level && n.message === message);
    if (same) this.dismiss(same.id);
    const notice = { id: this.#nextNotice++, level, message };
    this.notices = [...this.notices.slice(-4), notice];
    setTimeout(() => this.dismiss(notice.id), level === 'error' ? ERROR_TOAST_MS : TOAST_MS);
  }

  dismiss(id: number): void {
    this.notices = this.notices.filter((n) => n.id !== id);
  }
}

function readScreenFromHash(): ScreenId {
  const id = location.hash.slice(1);
  return screens.some((s) => s.id === id) ? (id as ScreenId) : 'dataset';
}

/** Created once in App.svelte; every screen and component reads it with `useAppState()`. */
export const [useAppState, setAppState] = createContext<AppState>();
