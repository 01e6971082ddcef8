/**
 * A crawl refused before it starts, as a code and its facts; the CLI and the app each word it (the flag
 * to use, or the field to fix). `option` names the crawl option at fault.
 */
export type CrawlOptionProblem =
  | { code: 'invalid-option'; option: string; detail: string }
  /** Public sites get at least `minMs` between requests; shorter delays are for local test servers. */
  | { code: 'delay-too-short'; option: 'delayMs'; host: string; minMs: number }
  /** A rating tag other than safe, while unsafe ratings are not allowed. */
  | { code: 'unsafe-rating-tag'; option: 'tags'; tag: string };

export class CrawlOptionError extends Error {
  override readonly name = 'CrawlOptionError';
  constructor(readonly problem: CrawlOptionProblem) {
    super(describeCrawlOptionProblem(problem));
  }
}

/** The plain wording, facts only. */
export function describeCrawlOptionProblem(problem: CrawlOptionProblem): string {
  switch (problem.code) {
    case 'invalid-option':
      return `invalid crawl option ${problem.option}: ${problem.detail}`;
    case 'delay-too-short':
      return `delay must be at least ${problem.minMs} ms for ${problem.host}; lower delays are for local test servers only`;
    case 'unsafe-rating-tag':
      return `tag ${problem.tag} needs unsafe ratings to be allowed explicitly`;
  }
}
