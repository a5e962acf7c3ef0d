import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as attrs from './attrs.js';

const headerPath = fileURLToPath(new URL('../../../../src/native/include/berth-plan.h', import.meta.url));

/** Every `#define BERTH_<GROUP>_<NAME> <number>` in the header. */
function headerDefines(): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of readFileSync(headerPath, 'utf8').split('\n')) {
    const m = /^#define\s+BERTH_([A-Z0-9_]+)\s+(0x[0-9a-fA-F]+|\d+)u?\b/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]!));
  }
  return out;
}

/** The TypeScript tables flattened to the header's naming. */
function tsDefines(): Map<string, number> {
  const out = new Map<string, number>();
  const groups: Record<string, Record<string, number>> = {
    A: attrs.A, MODE: attrs.MODE, NSJ: attrs.NSJ, M: attrs.M, MOUNT_KIND: attrs.MOUNT_KIND, DEV: attrs.DEV,
    LNK: attrs.LNK, HK: attrs.HK, DR: attrs.DR, SYS: attrs.SYS, RL: attrs.RL, SC: attrs.SC, SCS: attrs.SCS, SCA: attrs.SCA,
    SYNC: attrs.SYNC, STAGE: attrs.STAGE,
  };
  for (const [group, table] of Object.entries(groups)) {
    for (const [name, value] of Object.entries(table)) out.set(`${group}_${name}`, value);
  }
  out.set('PLAN_MAGIC', attrs.PLAN_MAGIC);
  out.set('PLAN_VERSION', attrs.PLAN_VERSION);
  out.set('SYNC_HDR_SIZE', attrs.SYNC_HDR_SIZE);
  out.set('SYNC_MAX_MSG', attrs.SYNC_MAX_MSG);
  return out;
}

test('attrs.ts holds exactly the numbers of berth-plan.h', () => {
  const header = headerDefines();
  const ts = tsDefines();
  for (const [name, value] of header) {
    assert.equal(ts.get(name), value, `BERTH_${name} is ${value} in the header but ${ts.get(name)} in attrs.ts`);
  }
  for (const [name, value] of ts) {
    assert.equal(header.get(name), value, `${name} is ${value} in attrs.ts but ${header.get(name)} in the header`);
  }
  assert.ok(header.size > 100, 'the header parse found the defines');
});
