import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { dirname, extname } from 'node:path';

/** How long a prepared download waits for the browser to fetch it. */
export const DOWNLOAD_TTL_MS = 10 * 60_000;

const DOWNLOAD_TYPES: Record<string, string> = {
  '.png': 'image/png',
  '.webp': 'image/webp',
  '.gif': 'image/gif',
  '.zip': 'application/zip',
};

export interface DownloadOffer {
  file: string;
  fileName: string;
  type: string;
}

/**
 * Files a service produced for the browser to download (`kao serve`): each is offered under a random
 * one-time path `/download/<id>`, fetched with the session cookie, then its temporary folder is removed
 * (after the response or after DOWNLOAD_TTL_MS, whichever comes first).
 */
export class WebDownloads {
  readonly #offers = new Map<string, DownloadOffer & { timer: NodeJS.Timeout }>();

  /**
   * Offers `file` as `fileName`. The file must sit alone in a temporary folder made for it: that
   * folder is removed once the download is served or expires.
   */
  offer = async (file: string, fileName: string): Promise<string> => {
    const id = randomBytes(24).toString('hex');
    const type = DOWNLOAD_TYPES[extname(fileName).toLowerCase()] ?? 'application/octet-stream';
    const timer = setTimeout(() => void this.discard(id), DOWNLOAD_TTL_MS);
    timer.unref();
    this.#offers.set(id, { file, fileName, type, timer });
    return `/download/${id}`;
  };

  /** The offer for an id, removed from the table: a download URL works once. */
  take(id: string): DownloadOffer | undefined {
    const offer = this.#offers.get(id);
    if (!offer) return undefined;
    clearTimeout(offer.timer);
    this.#offers.delete(id);
    return { file: offer.file, fileName: offer.fileName, type: offer.type };
  }

  /** Removes an offer's temporary folder (after it was served). */
  async release(offer: DownloadOffer): Promise<void> {
    await rm(dirname(offer.file), { recursive: true, force: true }).catch(() => undefined);
  }

  async discard(id: string): Promise<void> {
    const offer = this.take(id);
    if (offer) await this.release(offer);
  }

  async dispose(): Promise<void> {
    await Promise.all([...this.#offers.keys()].map((id) => this.discard(id)));
  }
}

/** `attachment` with an ASCII fallback name and the exact UTF-8 name (RFC 6266 / 5987). */
export function contentDisposition(fileName: string): string {
  const ascii = fileName.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(fileName)}`;
}
