/**
 * Writes a new user namespace's uid and gid maps from the runtime side: the
 * child cannot map itself (user_namespaces(7): the writer needs
 * CAP_SETUID/CAP_SETGID in the parent namespace).
 */
import { writeFileSync } from 'node:fs';
import { BerthError } from '../../errors/index.js';
import type { LinuxIDMapping } from '../../oci/runtime-spec.js';

function mapText(maps: readonly LinuxIDMapping[]): string {
  return maps.map((m) => `${m.containerID} ${m.hostID} ${m.size}\n`).join('');
}

export async function writeIdMappings(pid: number, uidMaps: readonly LinuxIDMapping[], gidMaps: readonly LinuxIDMapping[]): Promise<void> {
  // Each map must be written in one write(2); the kernel rejects a second one.
  for (const [file, maps] of [['uid_map', uidMaps], ['gid_map', gidMaps]] as const) {
    try {
      writeFileSync(`/proc/${pid}/${file}`, mapText(maps));
    } catch (cause) {
      throw new BerthError('EXECUTOR_FAILED', `cannot write /proc/${pid}/${file}: ${(cause as Error).message}`, {
        cause,
        field: file === 'uid_map' ? 'linux.uidMappings' : 'linux.gidMappings',
      });
    }
  }
}
