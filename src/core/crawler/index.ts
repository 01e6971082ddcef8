/** The dataset builder: Moebooru crawler, folder import, and the dataset gallery helpers. */
export {
  crawl,
  crawlProgressOf,
  crawlOptionsSchema,
  crawlSettingsSchema,
  parseCrawlOptions,
  CrawlError,
  DEFAULT_SITE,
  DEFAULT_USER_AGENT,
  MIN_PUBLIC_DELAY_MS,
  type CrawlOptions,
  type CrawlOptionsInput,
  type CrawlSettingsInput,
  type CrawlProgress,
  type CrawlSummary,
  type CrawlFailure,
  type CrawlStopReason,
  type JobState,
  type JobHooks,
} from './crawl.ts';
export { CrawlOptionError, describeCrawlOptionProblem, type CrawlOptionProblem } from './errors.ts';
export {
  importFolder,
  importProgressOf,
  importOptionsSchema,
  importSettingsSchema,
  type ImportSettingsInput,
  type ImportOptions,
  type ImportOptionsInput,
  type ImportProgress,
  type ImportSummary,
  type ImportIssue,
} from './import.ts';
export { readCrawlHistory, JOURNAL_FILE, type CrawlHistory } from './journal.ts';
export { type MoebooruPost } from './moebooru.ts';
export {
  listDataset,
  datasetImageNames,
  parseDatasetName,
  DatasetBusyError,
  type DatasetItem,
  type DatasetPage,
} from '../images/dataset.ts';
export { thumbnail, type ThumbnailOptions } from '../images/thumbnail.ts';
export { validateImage, InvalidImageError, type ValidImage, type ImageLimits } from '../images/validate.ts';
