import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {SshCommunicator} from '../../src/communicators/ssh/ssh-communicator.js';
import {Ui} from '../../src/core/ui.js';
import type {ProvisionContext} from '../../src/provisioners/provisioner.js';
import {createSshd, type Sshd} from '../fixtures/sshd/sshd.js';

/** A real sshd, a communicator logged in to it, a project folder and a Ui that records lines. */
export interface ProvisionFixture {
  sshd: Sshd;
  comm: SshCommunicator;
  projectRoot: string;
  lines: string[];
  context(signal?: AbortSignal): ProvisionContext;
  /** Runs a command on the server and returns its stdout. */
  sh(command: string): Promise<string>;
  dispose(): Promise<void>;
}

export async function provisionFixture(): Promise<ProvisionFixture> {
  const sshd = await createSshd();
  const comm = new SshCommunicator({host: sshd.host, port: sshd.port, username: sshd.username, privateKey: sshd.key.privateKey});
  await comm.waitForReady(10_000, new AbortController().signal);
  const projectRoot = mkdtempSync(path.join(os.tmpdir(), 'box-project-'));
  // What the provider would report for the guest, for host-side provisioners.
  const privateKeyPath = path.join(sshd.dir, 'client_key');
  writeFileSync(privateKeyPath, sshd.key.privateKey, {mode: 0o600});
  const ssh = {host: sshd.host, port: sshd.port, username: sshd.username, privateKeyPath};
  const lines: string[] = [];
  const stream = {write: (text: string) => lines.push(...text.replace(/\n$/, '').split('\n')), isTTY: false} as unknown as NodeJS.WriteStream;
  const ui = new Ui({stream});
  return {
    sshd,
    comm,
    projectRoot,
    lines,
    context: (signal = new AbortController().signal) => ({comm, ssh, machine: 'web', ui, signal, projectRoot, outputPrefix: 'web:'}),
    async sh(command) {
      let out = '';
      await comm.exec(command, {onOutput: (stream, data) => stream === 'stdout' && (out += data)});
      return out;
    },
    async dispose() {
      await comm.close();
      await sshd.stop();
      rmSync(projectRoot, {recursive: true, force: true});
    },
  };
}

/** Whether a process lives. A killed orphan can stay a zombie here (the container's pid 1 may not reap): that is dead. */
export function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}
