/**
 * Folders are layers and imports point down (../shared/STYLE.md). This test
 * reads every import in src/ and fails on an upward import or a cycle
 * between layers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const srcDir = fileURLToPath(new URL('../../src/', import.meta.url));

/** Which layers each layer may import (besides itself). */
const ALLOWED: Record<string, string[]> = {
  oci: [],
  errors: [],
  util: ['errors', 'oci'],
  runtime: ['oci', 'errors', 'util'],
  shim: ['oci', 'errors', 'util'],
  image: ['oci', 'errors', 'util'],
  daemon: ['oci', 'errors', 'util', 'runtime', 'shim', 'image'],
  api: ['oci', 'errors', 'util', 'daemon'],
  cli: ['oci', 'errors', 'util', 'runtime', 'api'],
  native: [],
};

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return tsFiles(p);
    return p.endsWith('.ts') && !p.endsWith('.d.ts') ? [p] : [];
  });
}

function layerOf(file: string): string {
  return relative(srcDir, file).split('/')[0]!;
}

test('every import in src/ points down the layers', () => {
  const problems: string[] = [];
  for (const file of tsFiles(srcDir)) {
    const from = layerOf(file);
    if (!(from in ALLOWED)) continue;
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
      const target = resolve(dirname(file), m[1]!);
      if (!target.startsWith(srcDir)) continue;
      const to = layerOf(target);
      if (to !== from && !ALLOWED[from]!.includes(to)) {
        problems.push(`${relative(srcDir, file)} (${from}) imports ${m[1]} (${to})`);
      }
    }
  }
  assert.deepEqual(problems, []);
});
