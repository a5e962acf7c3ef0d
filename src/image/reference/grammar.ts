/**
 * The reference grammar of distribution/reference (regexp.go), which Docker,
 * containerd and podman share, built from the same named pieces so the two
 * can be compared line by line.
 *
 *   reference  := name [ ":" tag ] [ "@" digest ]
 *   name       := [domain "/"] remote-name
 *   domain     := host [":" port]          host: DNS-like name or [IPv6]
 *   remote-name:= path-component ["/" path-component]*
 *   tag        := [\w][\w.-]{0,127}
 */
const alphanumeric = '[a-z0-9]+';
const separator = '(?:[._]|__|[-]+)';
const domainNameComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const optionalPort = '(?::[0-9]+)?';
const tag = '[\\w][\\w.-]{0,127}';
const digest = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}';
/** IPv6 in brackets; zone identifiers and IPv4-mapped forms are excluded on purpose. */
const ipv6address = '\\[(?:[a-fA-F0-9:]+)\\]';
const domainName = `${domainNameComponent}(?:\\.${domainNameComponent})*`;
const host = `(?:${domainName}|${ipv6address})`;
const domainAndPort = host + optionalPort;
const pathComponent = `${alphanumeric}(?:${separator}${alphanumeric})*`;
const remoteName = `${pathComponent}(?:/${pathComponent})*`;
const namePat = `(?:${domainAndPort}/)?${remoteName}`;

/** Captures name, tag, digest. */
export const REFERENCE_RE = new RegExp(`^(${namePat})(?::(${tag}))?(?:@(${digest}))?$`);
/** Captures domain (optional) and remote name. */
export const NAME_RE = new RegExp(`^(?:(${domainAndPort})/)?(${remoteName})$`);
export const TAG_RE = new RegExp(`^${tag}$`);
export const DIGEST_RE = new RegExp(`^${digest}$`);
/** A 64-hex image id, which is never taken for a repository name. */
export const IDENTIFIER_RE = /^[a-f0-9]{64}$/;
/** Longest name (domain and path) distribution accepts. */
export const NAME_MAX_LENGTH = 255;
