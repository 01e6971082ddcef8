/**
 * Which of a run's training images carry tags, and which: the data the named sliders are learned from.
 * A faces folder gives its kept faces with the tags they inherited (see faces/face-tags.ts); any other
 * folder its images with the tags the dataset kept (image-tags.jsonl, written by the crawler and import),
 * else each image's own `.txt` / gallery-dl `.json` sidecar.
 */
import { relative } from 'node:path';
import { FaceDataset } from '../faces/index-store.ts';
import { isFacesFolder } from '../faces/training-set.ts';
import { listImageFiles } from '../gan/data.ts';
import { readFolderTags } from '../images/tags.ts';

export interface TaggedImages {
  /** Every training image found. */
  total: number;
  /** The images with at least one tag (the others say nothing either way and are left out). */
  images: Array<{ path: string; tags: string[] }>;
  /** Where the tags came from, for messages. */
  source: 'faces-index' | 'dataset' | 'sidecars';
}

export async function readTaggedImages(dir: string): Promise<TaggedImages> {
  if (isFacesFolder(dir)) {
    const dataset = await FaceDataset.open(dir);
    const images: TaggedImages['images'] = [];
    let total = 0;
    const pageSize = 5000;
    for (let offset = 0; ; offset += pageSize) {
      const page = dataset.list({ filter: 'kept', offset, limit: pageSize });
      total = page.total;
      for (const face of page.faces) if (face.tags.length) images.push({ path: face.file, tags: face.tags });
      if (offset + pageSize >= page.total) break;
    }
    return { total, images, source: 'faces-index' };
  }
  const files = await listImageFiles(dir);
  const relativeOf = (path: string) => relative(dir, path).split('\\').join('/');
  const { tags, from } = await readFolderTags(dir, files.map(relativeOf));
  const images: TaggedImages['images'] = [];
  for (const path of files) {
    const found = tags.get(relativeOf(path));
    if (found) images.push({ path, tags: found });
  }
  return { total: files.length, images, source: from === 'store' ? 'dataset' : 'sidecars' };
}
