import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isBerthError } from '../errors/index.js';
import { findSignalName, getSignalName, parseSignal, signalNames } from './signals.js';

test('parseSignal reads names with and without SIG, in any case, and numbers', () => {
  assert.equal(parseSignal('TERM'), 15);
  assert.equal(parseSignal('SIGTERM'), 15);
  assert.equal(parseSignal('sigkill'), 9);
  assert.equal(parseSignal('kill'), 9);
  assert.equal(parseSignal('15'), 15);
  assert.equal(parseSignal(' HUP '), 1);
  assert.equal(parseSignal(9), 9);
  assert.equal(parseSignal('0'), 0);
});

test('parseSignal knows every standard Linux signal and the aliases', () => {
  const expected: Record<string, number> = {
    HUP: 1, INT: 2, QUIT: 3, ILL: 4, TRAP: 5, ABRT: 6, IOT: 6, BUS: 7, FPE: 8, KILL: 9, USR1: 10, SEGV: 11,
    USR2: 12, PIPE: 13, ALRM: 14, TERM: 15, STKFLT: 16, CHLD: 17, CLD: 17, CONT: 18, STOP: 19, TSTP: 20,
    TTIN: 21, TTOU: 22, URG: 23, XCPU: 24, XFSZ: 25, VTALRM: 26, PROF: 27, WINCH: 28, IO: 29, POLL: 29,
    PWR: 30, SYS: 31,
  };
  for (const [name, n] of Object.entries(expected)) assert.equal(parseSignal(`SIG${name}`), n, name);
});

test('parseSignal reads real-time signals relative to RTMIN and RTMAX', () => {
  assert.equal(parseSignal('RTMIN'), 34);
  assert.equal(parseSignal('SIGRTMIN+1'), 35);
  assert.equal(parseSignal('rtmin+30'), 64);
  assert.equal(parseSignal('SIGRTMAX'), 64);
  assert.equal(parseSignal('RTMAX-2'), 62);
  assert.equal(parseSignal('RTMAX-30'), 34);
  assert.equal(parseSignal('64'), 64);
});

test('parseSignal rejects unknown names and numbers with SIGNAL_INVALID naming the input', () => {
  for (const bad of ['SIGFOO', '', '65', '-1', 'RTMIN-1', 'RTMAX+1', 'RTMIN+31', '1.5', 'SIG', 'TERM2']) {
    assert.throws(
      () => parseSignal(bad),
      (err: unknown) => isBerthError(err, 'SIGNAL_INVALID') && err.message.includes(`\`${bad}\``),
      bad,
    );
  }
  assert.throws(() => parseSignal(65), (err: unknown) => isBerthError(err, 'SIGNAL_INVALID'));
  assert.throws(() => parseSignal(2.5), (err: unknown) => isBerthError(err, 'SIGNAL_INVALID'));
});

test('findSignalName gives canonical names and round-trips through parseSignal', () => {
  assert.equal(findSignalName(6), 'SIGABRT');
  assert.equal(findSignalName(17), 'SIGCHLD');
  assert.equal(findSignalName(29), 'SIGIO');
  assert.equal(findSignalName(34), 'SIGRTMIN');
  assert.equal(findSignalName(49), 'SIGRTMIN+15');
  assert.equal(findSignalName(50), 'SIGRTMAX-14');
  assert.equal(findSignalName(64), 'SIGRTMAX');
  assert.equal(findSignalName(0), undefined);
  assert.equal(findSignalName(32), undefined);
  assert.equal(findSignalName(65), undefined);
  for (const [n, name] of signalNames()) assert.equal(parseSignal(name), n, name);
  assert.equal(signalNames().size, 31 + 31);
});

test('getSignalName throws SIGNAL_INVALID for numbers without a name', () => {
  assert.equal(getSignalName(15), 'SIGTERM');
  assert.throws(() => getSignalName(33), (err: unknown) => isBerthError(err, 'SIGNAL_INVALID'));
});
