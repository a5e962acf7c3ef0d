import { nativeProgramPath } from '../util/native-path.js';

/** Where berth-shim is: BERTH_SHIM, else `native/berth-shim` in the nearest `dist/`. */
export function shimPath(): string {
  return nativeProgramPath('berth-shim', 'BERTH_SHIM');
}
