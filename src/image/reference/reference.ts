/**
 * Parsing and normalizing image references exactly as Docker does
 * (distribution/reference `Parse`, `ParseNormalizedNamed`, `TagNameOnly`,
 * `FamiliarString`), so that `busybox` means `docker.io/library/busybox:latest`
 * here as it does for `docker pull`.
 */
import { BerthError } from '../../errors/index.js';
import { parseDigest } from '../digest/digest.js';
import { DIGEST_RE, IDENTIFIER_RE, NAME_MAX_LENGTH, NAME_RE, REFERENCE_RE, TAG_RE } from './grammar.js';

export const DEFAULT_DOMAIN = 'docker.io';
const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
const OFFICIAL_REPO_PREFIX = 'library/';
export const DEFAULT_TAG = 'latest';

/**
 * A parsed reference. `domain` is empty when the input had none (only for
 * `parseReference`; normalized references always have one). `path` is the
 * repository path inside the registry (`library/busybox`).
 */
export interface ImageReference {
  readonly domain: string;
  readonly path: string;
  readonly tag?: string;
  readonly digest?: string;
}

function invalid(input: string, why: string): BerthError {
  return new BerthError('REFERENCE_INVALID', `invalid reference \`${input}\`: ${why}`);
}

/**
 * Parses a reference without normalizing it (distribution's `Parse`):
 * `busybox` stays `busybox` with no domain. Throws `REFERENCE_INVALID` naming
 * the input.
 */
export function parseReference(input: string): ImageReference {
  const m = REFERENCE_RE.exec(input);
  if (!m) {
    if (input === '') throw invalid(input, 'repository name must have at least one component');
    if (REFERENCE_RE.test(input.toLowerCase())) throw invalid(input, 'repository name must be lowercase');
    throw invalid(input, 'invalid reference format');
  }
  const name = m[1]!;
  if (name.length > NAME_MAX_LENGTH) throw invalid(input, `repository name must not be more than ${NAME_MAX_LENGTH} characters`);
  const nm = NAME_RE.exec(name)!;
  const ref: { domain: string; path: string; tag?: string; digest?: string } = { domain: nm[1] ?? '', path: nm[2]! };
  if (m[2] !== undefined) ref.tag = m[2];
  if (m[3] !== undefined) {
    try {
      parseDigest(m[3]);
    } catch (err) {
      throw invalid(input, (err as Error).message);
    }
    ref.digest = m[3];
  }
  return ref;
}

/** distribution's splitDockerDomain: the first component is a domain only if it looks like one. */
function splitDockerDomain(name: string): { domain: string; remainder: string } {
  const i = name.indexOf('/');
  let domain: string;
  let remainder: string;
  if (i === -1) {
    domain = DEFAULT_DOMAIN;
    remainder = name;
  } else {
    const first = name.slice(0, i);
    const looksLikeDomain = /[.:]/.test(first) || first === 'localhost' || first.toLowerCase() !== first;
    domain = looksLikeDomain ? first : DEFAULT_DOMAIN;
    remainder = looksLikeDomain ? name.slice(i + 1) : name;
  }
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !remainder.includes('/')) remainder = OFFICIAL_REPO_PREFIX + remainder;
  return { domain, remainder };
}

/**
 * Parses a reference as the Docker CLI does (`ParseNormalizedNamed`): adds
 * `docker.io` and `library/` where Docker would, maps `index.docker.io` to
 * `docker.io`, refuses 64-hex ids as names. Does not add a tag.
 */
export function parseNormalizedReference(input: string): ImageReference {
  if (IDENTIFIER_RE.test(input)) {
    throw invalid(input, 'cannot specify 64-byte hexadecimal strings as a repository name');
  }
  const { domain, remainder } = splitDockerDomain(input);
  const tagSep = remainder.indexOf(':');
  const remote = tagSep > -1 ? remainder.slice(0, tagSep) : remainder;
  if (remote.toLowerCase() !== remote) throw invalid(input, `repository name \`${remote}\` must be lowercase`);
  let ref: ImageReference;
  try {
    ref = parseReference(`${domain}/${remainder}`);
  } catch (err) {
    // Re-raise naming what the user typed, not our normalized form.
    const msg = (err as BerthError).message.replace(/^invalid reference `[^`]*`: /, '');
    throw invalid(input, msg);
  }
  return ref;
}

/**
 * The reference a pull uses: normalized, with `latest` added when there is
 * neither tag nor digest (Docker's `TagNameOnly`).
 */
export function parseDockerReference(input: string): ImageReference {
  const ref = parseNormalizedReference(input);
  if (ref.tag === undefined && ref.digest === undefined) return { ...ref, tag: DEFAULT_TAG };
  return ref;
}

/** `domain/path`, or `path` when there is no domain. */
export function referenceName(ref: ImageReference): string {
  return ref.domain === '' ? ref.path : `${ref.domain}/${ref.path}`;
}

/** The full string form: `docker.io/library/busybox:latest@sha256:...`. */
export function formatReference(ref: ImageReference): string {
  let s = referenceName(ref);
  if (ref.tag !== undefined) s += `:${ref.tag}`;
  if (ref.digest !== undefined) s += `@${ref.digest}`;
  return s;
}

/** The short name Docker prints: `busybox`, `user/app`, `example.com/app`. */
export function familiarName(ref: ImageReference): string {
  if (ref.domain !== DEFAULT_DOMAIN) return referenceName(ref);
  const path = ref.path;
  if (path.startsWith(OFFICIAL_REPO_PREFIX) && path.indexOf('/', OFFICIAL_REPO_PREFIX.length) === -1) {
    return path.slice(OFFICIAL_REPO_PREFIX.length);
  }
  return path;
}

/** The short string Docker prints: `busybox:latest`. */
export function familiarString(ref: ImageReference): string {
  let s = familiarName(ref);
  if (ref.tag !== undefined) s += `:${ref.tag}`;
  if (ref.digest !== undefined) s += `@${ref.digest}`;
  return s;
}

/** A copy of `ref` with a new tag; throws `REFERENCE_INVALID` on a bad tag. */
export function withTag(ref: ImageReference, tag: string): ImageReference {
  if (!TAG_RE.test(tag)) throw invalid(`${referenceName(ref)}:${tag}`, `tag \`${tag}\` is not valid`);
  return { ...ref, tag };
}

/** A copy of `ref` pinned to a digest; throws `REFERENCE_INVALID` on a bad digest. */
export function withDigest(ref: ImageReference, digest: string): ImageReference {
  if (!DIGEST_RE.test(digest)) throw invalid(`${referenceName(ref)}@${digest}`, `digest \`${digest}\` is not valid`);
  return { ...ref, digest };
}

/**
 * A reference or an image id (`ParseAnyReference`): a bare 64-hex string or
 * `sha256:<hex>` is returned as `{ id }`, anything else is normalized.
 */
export function parseAnyReference(input: string): { id: string } | { ref: ImageReference } {
  if (IDENTIFIER_RE.test(input)) return { id: `sha256:${input}` };
  if (input.startsWith('sha256:') && IDENTIFIER_RE.test(input.slice(7))) return { id: input };
  return { ref: parseNormalizedReference(input) };
}
