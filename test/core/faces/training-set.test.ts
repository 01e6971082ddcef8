import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trainingImages } from '../../../src/cli/commands/train.ts';
import { listImageFiles } from '../../../src/core/gan/data.ts';
import {
  FACES_INDEX_FILE,
  FACES_LOG_FILE,
  faceId,
  writeExcludedIds,
  type ImageRecord,
} from '../../../src/core/faces/index-store.ts';
import { isFacesFolder, listTrainingImages } from '../../../src/core/faces/training-set.ts';
import { appendJsonl } from '../../../src/core/util/jsonl.ts';
import { facesForTraining } from '../../../src/services/training-service.ts';
import { startKaoTrain } from '../../helpers/kao-train.ts';
import { facesDir as sharedFaces } from '../../helpers/shared-data.ts';
import { makeTempDir } from '../../helpers/temp-dir.ts';

let temp: { dir: string; cleanup: () => Promise<void> };
/** A faces folder as an extraction SIGKILLed before its first compaction leaves it: log, crops, no index. */
let interrupted: string;
let kept: string[];
let excludedCrop: string;
let orphanCrop: string;

beforeAll(async () => {
  temp = await makeTempDir('kao-training-set-');
  interrupted = join(temp.dir, 'faces');
  await mkdir(interrupted);
  const sources = (await listImageFiles(sharedFaces)).slice(0, 19);
  const crops: string[] = [];
  for (const [i, path] of sources.entries()) {
    const source = `posts/${String(i).padStart(4, '0')}.jpg`;
    const id = faceId(source, 0);
    const file = `${id}.png`;
    // Real crops, written before their record as extract.ts does.
    await sharp(path).png().toFile(join(interrupted, file));
    crops.push(join(interrupted, file));
    // The last image was in flight when the extraction died: its crop is on disk, its record is not.
    if (i === sources.length - 1) break;
    const box = { x: 0, y: 0, width: 96, height: 96 };
    const record: ImageRecord = {
      source,
      bytes: 1000 + i,
      status: 'ok',
      width: 96,
      height: 96,
      faces: [{ id, box, crop: box, cropSize: 96, hash: '0'.repeat(16), file }],
      duplicates: [],
      tooSmall: [],
    };
    await appendJsonl(join(interrupted, FACES_LOG_FILE), record);
  }
  excludedCrop = crops[3]!;
  orphanCrop = crops.at(-1)!;
  await writeExcludedIds(interrupted, [basename(excludedCrop, '.png')]);
  kept = crops.slice(0, -1).filter((c) => c !== excludedCrop);
});
afterAll(() => temp.cleanup());

describe('the images a run trains on', () => {
  it('a faces folder with only faces-log.jsonl is a faces folder: kept faces only', async () => {
    expect(existsSync(join(interrupted, FACES_INDEX_FILE))).toBe(false);
    expect(isFacesFolder(interrupted)).toBe(true);
    const list = await listTrainingImages(interrupted);
    expect(list).toEqual(kept);
    expect(list).toHaveLength(17);
    expect(list).not.toContain(excludedCrop);
    expect(list).not.toContain(orphanCrop);
  });

  it('kao train --data and the app list the same images', async () => {
    expect(await trainingImages(interrupted)).toEqual(kept);
    expect(await facesForTraining(interrupted)).toEqual(kept);
  });

  it('kao train on a log-only faces folder trains without the excluded face', async () => {
    const runDir = join(temp.dir, 'run');
    const child = startKaoTrain(runDir, 1, ['--data', interrupted, '--checkpoint-every', '0']);
    const { code, stderr } = await child.exit;
    expect(code, stderr).toBe(0);
    const config = JSON.parse(await readFile(join(runDir, 'config.json'), 'utf8')) as {
      data: { count: number; fingerprint: string };
    };
    // The run's data fingerprint: a hash of the training file names in order (run.ts).
    const fingerprint = createHash('sha256')
      .update(kept.map((p) => basename(p)).join('\n'))
      .digest('hex')
      .slice(0, 16);
    expect(config.data).toMatchObject({ count: 17, fingerprint });
  }, 120_000);

  it('any other folder trains on every image in it, subfolders included, in both', async () => {
    const plain = join(temp.dir, 'plain');
    await mkdir(join(plain, 'more'), { recursive: true });
    const files = (await listImageFiles(sharedFaces)).slice(0, 3);
    await copyFile(files[0]!, join(plain, 'a.jpg'));
    await copyFile(files[1]!, join(plain, 'more', 'b.jpg'));
    await copyFile(files[2]!, join(plain, '.hidden.jpg'));
    const expected = [join(plain, 'a.jpg'), join(plain, 'more', 'b.jpg')];
    expect(isFacesFolder(plain)).toBe(false);
    expect(await listTrainingImages(plain)).toEqual(expected);
    expect(await trainingImages(plain)).toEqual(expected);
    expect(await facesForTraining(plain)).toEqual(expected);
  });

  it('a missing folder: the CLI names it, the app has no faces yet', async () => {
    const missing = join(temp.dir, 'nope');
    await expect(trainingImages(missing)).rejects.toThrow(`--data: no such folder: ${missing}`);
    await expect(listTrainingImages(missing)).rejects.toThrow(`no such folder: ${missing}`);
    expect(await facesForTraining(missing)).toEqual([]);
  });
});
