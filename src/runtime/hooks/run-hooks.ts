/**
 * Runs OCI lifecycle hooks (runtime-spec config.md "POSIX-platform Hooks"):
 * each hook gets the container's state JSON on stdin, runs with its own
 * args and env (no inherited environment), and must exit 0 within its
 * timeout. Hooks of one kind run in order; the first failure stops them.
 */
import type { Hook } from '../../oci/runtime-spec.js';
import type { OciState } from '../state/container-state.js';

export type HookKind = 'prestart' | 'createRuntime' | 'createContainer' | 'startContainer' | 'poststart' | 'poststop';

// The spawning module (and node:child_process with it) loads on the first
// hook only: most containers have none, and `start` or `delete` should not
// pay for it. A module, not import('node:child_process'): the bundle runs in
// a vm.Script, where only bundled modules can be imported dynamically.
async function runHook(kind: HookKind, index: number, hook: Hook, state: OciState): Promise<void> {
  const { spawnHook } = await import('./spawn-hook.js');
  return spawnHook(kind, index, hook, state);
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
