import { join } from 'node:path';

/** The one layout of a Kao Studio data folder; every service and CLI command derives its paths from here. */
export function dataPaths(root: string) {
  return {
    root,
    dataset: join(root, 'dataset'), // crawled or imported illustrations + crawl state
    faces: join(root, 'faces'), // 96×96 crops + faces index
    runs: join(root, 'runs'), // one folder per training run
    favorites: join(root, 'favorites'), // saved avatars
    cache: join(root, 'cache'), // thumbnails, cascade download
  };
}
export type DataPaths = ReturnType<typeof dataPaths>;
