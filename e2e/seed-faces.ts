import { copyFile, mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { facesDir } from '../test/helpers/shared-data.ts';
import { FACES_LOG_FILE, type ImageRecord } from '../src/core/faces/index-store.ts';

/**
 * A small kept-face set in the faces core's layout: `count` shared crops beside `faces-log.jsonl`, one image
 * record per crop (the log is what an extraction appends before it compacts into faces-index.json).
 */
export async function seedFaces(dataDir: string, count: number): Promise<void> {
  const dir = join(dataDir, 'faces');
  await mkdir(dir, { recursive: true });
  const files = (await readdir(facesDir))
    .filter((f) => f.endsWith('.jpg'))
    .sort()
    .slice(0, count);
  const lines: string[] = [];
  for (const [i, file] of files.entries()) {
    await copyFile(join(facesDir, file), join(dir, file));
    const box = { x: 0, y: 0, width: 96, height: 96 };
    const record: ImageRecord = {
      source: `illustration-${i}.jpg`,
      bytes: (await stat(join(facesDir, file))).size,
      status: 'ok',
      width: 96,
      height: 96,
      faces: [
        { id: `face-${i}`, box, crop: box, cropSize: 96, hash: i.toString(16).padStart(16, '0'), file },
      ],
      duplicates: [],
      tooSmall: [],
    };
    lines.push(JSON.stringify(record));
  }
  await writeFile(join(dir, FACES_LOG_FILE), lines.join('\n') + '\n');
}
