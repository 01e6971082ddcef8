import { open } from 'node:fs/promises';
import { KaoError } from '../shared/errors.ts';

/** Real OpenCV cascades are tens to hundreds of KiB; anything far larger is not one. */
const MAX_CASCADE_BYTES = 16 * 1024 * 1024;
const HEAD_BYTES = 16 * 1024;

/**
 * Refuses a path that is not a regular, readable OpenCV cascade XML file, before anything reads it whole
 * or reports its size or SHA-256: a token holder must not learn anything about arbitrary files (or hang
 * the server on `/dev/zero`). One message for every refusal, so it does not even tell whether the file
 * exists.
 */
export async function assertCascadeXml(path: string, field = 'path'): Promise<void> {
  const refuse = (): never => {
    const message = `${path} is not a readable OpenCV cascade file (.xml).`;
    throw new KaoError('invalid-input', message, [{ path: field, message }]);
  };
  let head = '';
  try {
    const handle = await open(path, 'r');
    try {
      const info = await handle.stat();
      if (!info.isFile() || info.size > MAX_CASCADE_BYTES || info.size < 64) return refuse();
      const buffer = Buffer.alloc(HEAD_BYTES);
      const { bytesRead } = await handle.read(buffer, 0, HEAD_BYTES, 0);
      head = buffer.subarray(0, bytesRead).toString('utf8');
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (error instanceof KaoError) throw error;
    return refuse();
  }
  const looksLikeCascade =
    /^\s*(<\?xml[^>]*\?>\s*)?(<!--[\s\S]*?-->\s*)*<opencv_storage>/.test(head) &&
    /<cascade\b|opencv-haar-classifier|opencv-cascade-classifier/.test(head);
  if (!looksLikeCascade) refuse();
}
