/**
 * What every container operation needs: the state store under the runtime
 * root and a logger. Built once by the CLI (or by a caller of the library).
 */
import type { Logger } from '../../util/logger.js';
import { silentLogger } from '../../util/logger.js';
import { StateStore, DEFAULT_ROOT } from '../state/state-store.js';

export interface RuntimeContext {
  store: StateStore;
  log: Logger;
}

export function createRuntimeContext(options: { root?: string; log?: Logger } = {}): RuntimeContext {
  return { store: new StateStore(options.root ?? DEFAULT_ROOT), log: options.log ?? silentLogger };
}
