/**
 * Just enough ELF reading to tell whether a binary is statically linked: a
 * binary that runs inside a bare rootfs must not need a dynamic loader.
 */
import { closeSync, openSync, readSync } from 'node:fs';

const PT_INTERP = 3;

/**
 * True when `path` is an ELF executable without a PT_INTERP program header
 * (static, or static-pie); false for a dynamic ELF or anything not ELF.
 */
export function isStaticElf(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const header = Buffer.alloc(64);
    if (readSync(fd, header, 0, 64, 0) < 52) return false;
    if (header.readUInt32BE(0) !== 0x7f454c46) return false;
    const is64 = header[4] === 2;
    const little = header[5] === 1;
    const u16 = (b: Buffer, off: number) => (little ? b.readUInt16LE(off) : b.readUInt16BE(off));
    const u32 = (b: Buffer, off: number) => (little ? b.readUInt32LE(off) : b.readUInt32BE(off));
    const phoff = is64 ? Number(little ? header.readBigUInt64LE(32) : header.readBigUInt64BE(32)) : u32(header, 28);
    const phentsize = u16(header, is64 ? 54 : 42);
    const phnum = u16(header, is64 ? 56 : 44);
    if (phnum === 0) return false;
    const table = Buffer.alloc(phentsize * phnum);
    if (readSync(fd, table, 0, table.length, phoff) !== table.length) return false;
    for (let i = 0; i < phnum; i++) {
      if (u32(table, i * phentsize) === PT_INTERP) return false;
    }
    return true;
  } finally {
    closeSync(fd);
  }
}
