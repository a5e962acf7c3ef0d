/**
 * Runs OCI lifecycle hooks (runtime-spec config.md "POSIX-platform Hooks"):
 * each hook gets the container's state JSON on stdin, runs with its own
 * args and env (no inherited environment), and must exit 0 within its
 * timeout. Hooks of one kind run in order; the first failure stops them.
 */
import { spawn } from 'node:child_process';
import { BerthError } from '../../errors/index.js';
import type { Hook } from '../../oci/runtime-spec.js';
import type { OciState } from '../state/container-state.js';

export type HookKind = 'prestart' | 'createRuntime' | 'createContainer' | 'startContainer' | 'poststart' | 'poststop';

function runHook(kind: HookKind, index: number, hook: Hook, state: OciState): Promise<void> {
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

/** Run every hook of one kind in order; throws on the first failure. */
export async function runHooks(kind: HookKind, hooks: readonly Hook[] | undefined, state: OciState): Promise<void> {
  if (!hooks) return;
  for (const [i, hook] of hooks.entries()) {
    await runHook(kind, i, hook, state);
  }
}

/**
 * Run every hook of one kind, collecting failures instead of stopping: the
 * spec says poststart and poststop failures are logged as warnings and the
 * lifecycle goes on.
 */
export async function runHooksLoggingFailures(
  kind: HookKind,
  hooks: readonly Hook[] | undefined,
  state: OciState,
  warn: (message: string) => void,
): Promise<void> {
  if (!hooks) return;
  for (const [i, hook] of hooks.entries()) {
    try {
      await runHook(kind, i, hook, state);
    } catch (err) {
      warn((err as Error).message);
    }
  }
}
