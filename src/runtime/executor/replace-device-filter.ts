/**
 * Runs berth-init in devices mode: it replaces berth's cgroup v2 device
 * filter on a running container's cgroup, since Node cannot call bpf(2).
 * berth-init exits 0 without a sync record when done, or sends ERROR.
 */
import { BerthError } from '../../errors/index.js';
import { STAGE, SYNC } from '../plan/attrs.js';
import type { Plan } from '../plan/plan.js';
import { executorError } from '../sync/sync-channel.js';
import { spawnInit } from './spawn-init.js';

const EPERM = 1;

/**
 * Carry out `plan` (from deviceFilterPlan). A missing privilege (EPERM: a
 * rootless runtime has no CAP_SYS_ADMIN in the initial user namespace)
 * becomes PERMISSION_DENIED; other failures EXECUTOR_FAILED.
 */
export async function replaceDeviceFilter(plan: Plan): Promise<void> {
  if (plan.mode !== 'devices') {
    throw new BerthError('EXECUTOR_PROTOCOL', `replaceDeviceFilter needs a devices-mode plan, not ${plan.mode}`);
  }
  const init = spawnInit(plan, { stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    const rec = await init.sync.next();
    if (rec !== undefined && rec.type === SYNC.ERROR) {
      const err = executorError(rec);
      if (rec.err === EPERM && rec.stage === STAGE.DEVICE_FILTER) {
        throw new BerthError('PERMISSION_DENIED', `cannot change the device rules of container \`${plan.containerId}\`: ${rec.message}`, { cause: err, errno: rec.err });
      }
      throw err;
    }
    if (rec !== undefined) {
      throw new BerthError('EXECUTOR_PROTOCOL', `berth-init sent sync record ${rec.type} in devices mode, which sends none but ERROR`);
    }
    const code = await init.exited;
    if (code !== 0) {
      throw new BerthError('EXECUTOR_FAILED', `berth-init exited with status ${code} while replacing the device filter of cgroup ${plan.deviceCgroup ?? '(none)'}`);
    }
  } finally {
    init.sync.close();
    if (init.child.exitCode === null && init.child.signalCode === null) init.child.kill('SIGKILL');
    await init.exited;
  }
}
