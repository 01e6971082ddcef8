import { mkdir, open, readFile, type FileHandle } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { dirname } from 'node:path';

/**
 * Appends one JSON record per line, in one write. A kill mid-write can leave a torn last line without its
 * newline: that line is ended first (only the file's last byte is read to find out), so the new record
 * starts a line of its own instead of being glued to the torn one, and readers lose only the torn record.
 */
export async function appendJsonl(path: string, record: unknown): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const line = JSON.stringify(record) + '\n';
  // 'a+': writes go to the end whatever the position, and the last byte can be read.
  const handle = await open(path, 'a+');
  try {
    const { size } = await handle.stat();
    const torn = size > 0 && (await readAt(handle, size - 1, 1))[0] !== 0x0a;
    await handle.write(torn ? '\n' + line : line);
  } finally {
    await handle.close();
  }
}

export async function readJsonl(path: string): Promise<unknown[]> {
  return (await readJsonlReport(path)).records;
}

/** The records, and how many non-blank lines could not be parsed (a torn line from a kill mid-append). */
export async function readJsonlReport(path: string): Promise<{ records: unknown[]; unreadable: number }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { records: [], unreadable: 0 };
    throw error;
  }
  return parseLines(text);
}

/** One record per parsable line; blank lines are skipped, torn ones skipped and counted. */
function parseLines(text: string): { records: unknown[]; unreadable: number } {
  const records: unknown[] = [];
  let unreadable = 0;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      records.push(JSON.parse(line));
    } catch {
      // A torn line from a crash mid-append: everything before it is intact.
      unreadable++;
    }
  }
  return { records, unreadable };
}

/**
 * Where a reader of a growing JSONL file stands: the byte offset just past the last complete line it
 * read, which file that was (device:inode, '' while there was none) and a hash of the bytes just before
 * the offset. A file rewritten since (an atomic replace, even one that reuses the inode number and grew
 * past the offset, or an in-place rewrite) no longer matches that hash.
 */
export interface JsonlPosition {
  offset: number;
  file: string;
  tail: string;
}

export type JsonlTail =
  | { replaced: false; records: unknown[]; position: JsonlPosition }
  /** The file is not the one `from` points into any more (rewritten, truncated, deleted): read it again from the start. */
  | { replaced: true };

/** How many bytes before the offset the position's hash covers (the last line's time stamp, at least). */
const TAIL_BYTES = 256;

/**
 * The complete lines of a JSONL file that another process appends to, after `from` (the start when
 * omitted). A last line without its newline is still being written: it is left for the next read and the
 * position stays before it. At most about `maxBytes` are read per call (the position says where it got
 * to), so each call costs what was appended, never the whole history.
 */
export async function readJsonlAfter(
  path: string,
  from: JsonlPosition = { offset: 0, file: '', tail: '' },
  maxBytes = Number.POSITIVE_INFINITY,
): Promise<JsonlTail> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    return from.offset === 0
      ? { replaced: false, records: [], position: { offset: 0, file: '', tail: '' } }
      : { replaced: true };
  }
  try {
    // Identity and size from the open handle: a rename over the path after this does not mix two files.
    const info = await handle.stat();
    const file = `${info.dev}:${info.ino}`;
    if (from.offset > 0 && (from.file !== file || info.size < from.offset)) return { replaced: true };
    const start = Math.max(from.offset - TAIL_BYTES, 0);
    const body = from.offset - start;
    let bytes = await readAt(handle, start, Math.min(info.size - start, body + maxBytes));
    if (from.offset > 0 && tailHash(bytes, body) !== from.tail) return { replaced: true };
    if (bytes.lastIndexOf(0x0a) < body && start + bytes.length < info.size) {
      // No complete line within maxBytes (a giant line): read the rest rather than stall on it.
      bytes = await readAt(handle, start, info.size - start);
    }
    const end = bytes.lastIndexOf(0x0a) + 1;
    if (end <= body) return { replaced: false, records: [], position: { ...from, file } };
    return {
      replaced: false,
      records: parseLines(bytes.subarray(body, end).toString('utf8')).records,
      position: { offset: start + end, file, tail: tailHash(bytes, end) },
    };
  } finally {
    await handle.close();
  }
}

/** Hash of the (up to) TAIL_BYTES bytes before `end`. */
function tailHash(bytes: Buffer, end: number): string {
  return createHash('sha256')
    .update(bytes.subarray(Math.max(end - TAIL_BYTES, 0), end))
    .digest('hex')
    .slice(0, 24);
}

async function readAt(handle: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(buffer, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return buffer.subarray(0, done);
}
