import { isIP } from 'node:net';

/**
 * Which URLs the crawler may fetch: http(s) only, on the site's registrable domain (the site itself and its
 * subdomains, e.g. files.yande.re for yande.re) or on a host the user listed in `extraHosts`
 * (`cdn.example.com` exactly, or `*.example.com` for it and its subdomains). Everything else is refused
 * with a reason, so a hostile or broken post record can never make the crawler talk to another server.
 */
export class HostPolicy {
  readonly siteHost: string;
  readonly #domain: string;
  readonly #exact = new Set<string>();
  readonly #suffixes: string[] = [];

  constructor(siteUrl: URL, extraHosts: readonly string[] = []) {
    this.siteHost = siteUrl.hostname.toLowerCase();
    this.#domain = registrableDomain(this.siteHost);
    for (const raw of extraHosts) {
      const host = raw.trim().toLowerCase();
      if (!host) continue;
      if (host.startsWith('*.')) this.#suffixes.push(host.slice(2));
      else this.#exact.add(host);
    }
  }

  /** `undefined` when allowed, otherwise the reason it is not. */
  check(url: URL): string | undefined {
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      return `refused ${url.protocol} URL (only http and https)`;
    if (url.username || url.password) return 'refused URL with embedded credentials';
    const host = url.hostname.toLowerCase();
    if (this.allowsHost(host)) return undefined;
    return `refused host ${host}: not ${this.siteHost}, its subdomains, or an extra host`;
  }

  allowsHost(host: string): boolean {
    if (host === this.siteHost || this.#exact.has(host)) return true;
    // An IP address or single-label host (localhost) has no subdomains: exact match only.
    if (!isIP(stripBrackets(this.siteHost)) && this.#domain.includes('.')) {
      if (host === this.#domain || host.endsWith('.' + this.#domain)) return true;
    }
    return this.#suffixes.some((suffix) => host === suffix || host.endsWith('.' + suffix));
  }
}

function stripBrackets(host: string): string {
  return host.startsWith('[') ? host.slice(1, -1) : host;
}

// Second-level labels under which registrations happen on country TLDs (example.co.uk, example.com.au).
// Not the full Public Suffix List, which would be a dependency for a corner case; `extraHosts` covers the rest.
const SECOND_LEVEL_LABELS = new Set(['co', 'com', 'net', 'org', 'ne', 'or', 'ac', 'gov', 'edu']);

/** example.com for img.example.com, example.co.jp for cdn.example.co.jp; the host itself for IPs. */
export function registrableDomain(host: string): string {
  const bare = stripBrackets(host.toLowerCase());
  if (isIP(bare)) return bare;
  const labels = bare.split('.').filter(Boolean);
  if (labels.length <= 2) return labels.join('.');
  const tld = labels.at(-1)!;
  const second = labels.at(-2)!;
  const take = tld.length === 2 && SECOND_LEVEL_LABELS.has(second) ? 3 : 2;
  return labels.slice(-take).join('.');
}
