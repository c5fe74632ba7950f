import {createHash} from 'node:crypto';
import {readdirSync, readFileSync} from 'node:fs';
import {readFile} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {pidAlive} from '../../core/processes.js';
import {qemuFiles} from './files.js';
import {qemuEscape} from './args.js';

/** Reads a pid file; undefined when missing or not a number. */
export async function readPidFile(file: string): Promise<number | undefined> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const pid = Number.parseInt(text.trim(), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/**
 * unix socket paths are limited to 107 bytes; deep project folders get a socket in the temp
 * folder instead, named after the machine folder so it is stable across boots.
 */
export function qmpSocketPath(dir: string): string {
  return machineSocketPath(dir, qemuFiles.qmp);
}

/** A unix socket of the machine in `dir` named `<stem>.sock`: in the folder, or in the temp folder when that path is too long. */
export function machineSocketPath(dir: string, file: `${string}.sock`): string {
  const inDir = path.join(dir, file);
  if (Buffer.byteLength(inDir) <= 100) return inDir;
  return path.join(os.tmpdir(), `box-${file.slice(0, -'.sock'.length)}-${createHash('sha256').update(dir).digest('hex').slice(0, 16)}.sock`);
}

/**
 * Does this command line start the QEMU of the machine whose folder is `dir`? A qemu-system
 * (or RHEL's qemu-kvm) binary with an argument naming a file in that folder (disk, pid file,
 * serial log) or the folder's QMP socket. The folder is where the project IS, never a path read
 * from state.json: a project copied with its .box folder records the other copy's files, and
 * its `destroy` must not kill the other copy's QEMU.
 */
export function qemuOfMachine(args: readonly string[], dir: string): boolean {
  if (!/^(qemu-system-|qemu-kvm)/.test(path.basename(args[0] ?? ''))) return false;
  const marks = [`${dir}/`, `${qemuEscape(dir)}/`, qmpSocketPath(dir), qemuEscape(qmpSocketPath(dir))];
  return args.slice(1).some((a) => marks.some((m) => a.includes(m)));
}

export async function argsOf(pid: number): Promise<string[]> {
  return argsOfNow(pid);
}

/**
 * argsOf, read synchronously: /proc is in memory, and a read of it takes microseconds where an
 * fs/promises read (open, stat, read, close on the thread pool) takes a few hundred; `box
 * status` scans every process this way, ~25-75 ms for 110 processes against 2 ms.
 */
function argsOfNow(pid: number): string[] {
  let cmdline = '';
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    // gone since /proc was listed, or not ours to read
  }
  // A zombie (exited, not yet reaped) has an empty cmdline.
  return cmdline === '' ? [] : cmdline.replace(/\0$/, '').split('\0');
}

/**
 * Is `pid` the QEMU of the machine in `dir`? Alive and its command line names the machine's
 * folder: a recycled pid of some other process must never be killed by `halt`/`destroy`.
 */
export async function isOurQemu(pid: number, dir: string): Promise<boolean> {
  if (!pidAlive(pid)) return false;
  return qemuOfMachine(await argsOf(pid), dir);
}

/**
 * Every running QEMU of the machine in `dir`, found by its command line in /proc: the record
 * that survives a lost pid file and a damaged or wrong state.json.
 */
export async function machineQemuPids(dir: string): Promise<number[]> {
  return pidsWhere((args) => qemuOfMachine(args, dir));
}

/** The live processes (not this one) whose command line passes `test`. */
export async function pidsWhere(test: (args: string[]) => boolean): Promise<number[]> {
  const pids: number[] = [];
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    // no /proc: nothing to find
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    if (test(argsOfNow(pid))) pids.push(pid);
  }
  return pids;
}

