import {existsSync, readFileSync} from 'node:fs';
import path from 'node:path';
import {execa} from 'execa';
import {packageBox, virtualboxOvf} from '../../../src/boxes/package.js';
import {repoRoot} from '../../helpers/cli.js';

/** The fake VBoxManage's folder: put first on PATH so box runs it as `VBoxManage`. */
export const fakeVBoxDir = path.join(repoRoot, 'test', 'fixtures', 'fake-vboxmanage');

export interface FakeVm {
  uuid: string;
  name: string;
  state: string;
  cpus: number;
  memory: number;
  nat: Array<{name: string; protocol: string; hostIp: string; hostPort: number; guestPort: number}>;
  snapshots: Array<{name: string}>;
  linkedFrom?: string;
  pid?: number;
  disk: string;
}

/** Environment for a box CLI run against the fake (`boot`: none | banner | qemu). */
export function fakeEnv(home: string, boot: 'none' | 'banner' | 'qemu', extra: Record<string, string> = {}): Record<string, string> {
  return {PATH: `${fakeVBoxDir}:${process.env.PATH}`, FAKE_VBOX_HOME: home, FAKE_VBOX_BOOT: boot, ...extra};
}

export function fakeVms(home: string): FakeVm[] {
  const file = path.join(home, 'state.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as {vms: FakeVm[]}).vms : [];
}

/** Every VBoxManage invocation so far, as argv arrays with their exit codes. */
export function fakeCalls(home: string): Array<{argv: string[]; exitCode: number}> {
  const file = path.join(home, 'calls.log');
  return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
}

/**
 * A small virtualbox box for the fake (no real disk: the fake only checks the .ovf and that the
 * disk file it names exists).
 */
export async function makeFakeVirtualboxBox(file: string): Promise<string> {
  const ovf = virtualboxOvf({name: 'debian-12-minimal', diskFile: 'box-disk001.vmdk', diskBytes: 10 * 1024 ** 3, vmdkBytes: 16, cpus: 1, memoryMiB: 512});
  await packageBox({
    provider: 'virtualbox',
    files: [{name: 'box.ovf', content: ovf}, {name: 'box-disk001.vmdk', content: 'not a real vmdk\n'}],
    outputPath: file,
  });
  return file;
}

/** pids of the QEMU guests the fake started under `fakeHome` (their disks live there). */
export async function fakeGuestPids(fakeHome: string): Promise<number[]> {
  const {stdout} = await execa('pgrep', ['-f', `qemu-system.*${fakeHome}`], {reject: false});
  return String(stdout).split('\n').filter(Boolean).map(Number);
}
