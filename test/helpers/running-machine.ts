import {execFile} from 'node:child_process';
import {readdirSync, readFileSync} from 'node:fs';
import {mkdir, readFile, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {promisify} from 'node:util';
import {sharedConnectionPath} from '../../src/communicators/ssh/shared-connection.js';
import {machineFiles} from '../../src/core/paths.js';
import type {MachineState} from '../../src/core/state.js';
import {machinePaths, type QemuMachineState} from '../../src/providers/qemu/qemu-provider.js';
import {createSshd, type Sshd} from '../fixtures/sshd/sshd.js';

/**
 * A qemu machine that `box status` and `box ssh` find running without booting a guest: a real
 * QEMU with no machine (`-machine none`) answering QMP from the machine folder, and a real
 * OpenSSH server (test/fixtures/sshd) where the guest's forwarded SSH port would be. The record
 * is what `box up` writes (key inserted, up completed). The project's Boxfile logs in as the
 * user running the tests. `stop()` ends QEMU, sshd and a
 * shared SSH connection `box ssh` left to it.
 */
export async function runningMachine(project: string, name = 'default'): Promise<{sshd: Sshd; qemuPid: number; stop(): Promise<void>}> {
  const sshd = await createSshd();
  const dir = path.join(project, '.box', 'machines', name);
  await mkdir(dir, {recursive: true});
  await writeFile(path.join(project, 'Boxfile'), `basebox: debian-12-minimal\ntarget: qemu\nssh:\n  username: ${sshd.username}\n`);
  await writeFile(path.join(dir, machineFiles.privateKey), sshd.key.privateKey, {mode: 0o600});
  const files = machinePaths(dir);
  await promisify(execFile)('qemu-system-x86_64', ['-machine', 'none', '-display', 'none', '-qmp', `unix:${files.qmpSocket},server=on,wait=off`, '-pidfile', files.pidFile, '-daemonize']);
  const qemuPid = Number((await readFile(files.pidFile, 'utf8')).trim());
  const provider: QemuMachineState = {
    phase: 'created', disk: files.disk, baseImage: path.join(dir, 'no-base.img'), baseFormat: 'qcow2', pidFile: files.pidFile, qmpSocket: files.qmpSocket,
    serialLog: files.serialLog, sshPort: sshd.port, pid: qemuPid, forwardedPorts: [], keyInserted: true,
  };
  const state: MachineState = {machine: name, target: 'qemu', createdAt: new Date().toISOString(), provisioned: true, upCompleted: true, provider: provider as unknown as Record<string, unknown>};
  await writeFile(path.join(dir, machineFiles.state), JSON.stringify(state, null, 2));
  return {
    sshd, qemuPid,
    async stop() {
      try {
        process.kill(qemuPid, 'SIGKILL');
      } catch {
        // already gone
      }
      // sshd's per-connection processes outlive its listener: a `box ssh` master would too.
      for (const pid of sharedConnectionMasters(dir)) process.kill(pid, 'SIGKILL');
      await sshd.stop();
    },
  };
}

/**
 * The pids of `box ssh`'s shared-connection master for the machine in `dir`, under any BOX_HOME:
 * OpenSSH names a master after its socket ("ssh: HOME/ssh/HASH.sock [mux]").
 */
export function sharedConnectionMasters(dir: string): number[] {
  const name = path.basename(sharedConnectionPath(dir, '/')!);
  return readdirSync('/proc').filter((e) => /^\d+$/.test(e)).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(`/${name} [mux]`);
    } catch {
      return false;
    }
  }).map(Number);
}
