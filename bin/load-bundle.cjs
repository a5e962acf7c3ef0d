// Loads a one-file CommonJS bundle (dist/bin/<name>.cjs) the way require()
// would, but through vm.Script so that V8's code cache can be handed in:
// with it, the functions a command runs are deserialized instead of parsed
// and compiled at every start, which is most of a short command's cost
// beyond Node's own start-up. The cache (<bundle>.cache) is written at build
// time by scripts/code-cache.cjs. It starts with the size and modification
// time (ns) of the bundle it was made from, because V8's own check of a
// cache against its source is only the source's length; a content hash
// would cost loading node:crypto (~5 ms) at every start. A missing, stale or
// rejected cache costs only the compile it would have saved. V8 checks a
// cache's checksum only when asked to (--verify-snapshot-checksum); without
// that a corrupted cache crashes the process, so the loader asks.
'use strict';
const { readFileSync, statSync } = require('node:fs');
const { createRequire, wrap } = require('node:module');
const { dirname } = require('node:path');
const { setFlagsFromString } = require('node:v8');
const { Script } = require('node:vm');

const STAMP_BYTES = 16;

/** The bundle's identity for its cache: size and mtime in ns, 16 bytes. */
function bundleStamp(file) {
  const st = statSync(file, { bigint: true });
  const stamp = Buffer.alloc(STAMP_BYTES);
  stamp.writeBigUInt64LE(st.size, 0);
  stamp.writeBigUInt64LE(st.mtimeNs, 8);
  return stamp;
}

/**
 * Returns { exports, script, stamp }; a cache is
 * `Buffer.concat([stamp, script.createCachedData()])`. `cacheFile` defaults
 * to `<file>.cache`; scripts/code-cache.cjs also writes a smaller
 * `<file>.light.cache` for the commands that only look at a container.
 */
function loadBundle(file, { useCache = true, cacheFile = `${file}.cache` } = {}) {
  // Also set while a cache is made: V8 refuses a cache made under other flags.
  setFlagsFromString('--verify-snapshot-checksum');
  const stamp = bundleStamp(file);
  const source = readFileSync(file, 'utf8');
  let cachedData;
  if (useCache) {
    let cache;
    try {
      cache = readFileSync(cacheFile);
    } catch {
      // No cache: compile as require() would.
    }
    if (cache && cache.length > STAMP_BYTES && cache.subarray(0, STAMP_BYTES).equals(stamp)) cachedData = cache.subarray(STAMP_BYTES);
  }
  const script = new Script(wrap(source), { filename: file, cachedData });
  const module = { exports: {}, filename: file, id: file, loaded: false };
  script.runInThisContext()(module.exports, createRequire(file), module, file, dirname(file));
  module.loaded = true;
  return { exports: module.exports, script, stamp };
}

module.exports = { loadBundle };
