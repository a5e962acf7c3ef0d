/**
 * Runs one OCI hook as a child process (see run-hooks.ts). A module of its
 * own so that node:child_process is loaded only when a container has hooks.
 */
import { spawn } from 'node:child_process';
import { BerthError } from '../../errors/index.js';
import type { Hook } from '../../oci/runtime-spec.js';
import type { OciState } from '../state/container-state.js';
import type { HookKind } from './run-hooks.js';

export function spawnHook(kind: HookKind, index: number, hook: Hook, state: OciState): Promise<void> {
  return new Promise((resolve, reject) => {
    const args = hook.args && hook.args.length > 0 ? hook.args : [hook.path];
    const child = spawn(hook.path, args.slice(1), {
      argv0: args[0],
      env: Object.fromEntries((hook.env ?? []).map((kv) => {
        const eq = kv.indexOf('=');
        return eq < 0 ? [kv, ''] : [kv.slice(0, eq), kv.slice(eq + 1)];
      })),
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    let stderr = '';
    let timedOut = false;
    const timer = hook.timeout !== undefined
      ? setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, hook.timeout * 1000)
      : undefined;
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < 4096) stderr += d;
    });
    child.stdin!.on('error', () => {
      // A hook that does not read its stdin is allowed to exit early.
    });
    child.stdin!.end(JSON.stringify(state));
    const name = `${kind} hook #${index} (${hook.path})`;
    child.on('error', (err) => {
      if (timer) clearTimeout(timer);
      reject(new BerthError('HOOK_FAILED', `${name} could not run: ${err.message}`, { cause: err }));
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (timedOut) {
        reject(new BerthError('HOOK_FAILED', `${name} timed out after ${hook.timeout}s`));
      } else if (code !== 0) {
        const why = signal ? `was killed by ${signal}` : `exited with status ${code}`;
        const detail = stderr.trim() ? `: ${stderr.trim()}` : '';
        reject(new BerthError('HOOK_FAILED', `${name} ${why}${detail}`));
      } else {
        resolve();
      }
    });
  });
}

