import {appendFile, mkdir} from 'node:fs/promises';
import path from 'node:path';
import type {Communicator, ExecOptions} from '../../communicators/communicator.js';
import type {SshInfo} from '../provider.js';

/**
 * FOR TESTS ONLY (see communicator-factory.ts): pretends to be a guest's SSH server. Every
 * call is appended as one JSON line to `<dir>/fake-ssh.log` with the address it would have used,
 * so tests can assert what box would have run and where; commands "exit" 0.
 */
export class FakeCommunicator implements Communicator {
  readonly log: string;

  constructor(dir: string, private readonly info: SshInfo) {
    this.log = path.join(dir, 'fake-ssh.log');
  }

  private async record(entry: Record<string, unknown>): Promise<void> {
    await mkdir(path.dirname(this.log), {recursive: true});
    await appendFile(this.log, JSON.stringify({...entry, host: this.info.host, port: this.info.port, username: this.info.username}) + '\n');
  }

  async waitForReady(): Promise<void> {
    await this.record({op: 'wait'});
  }

  async exec(command: string, options: ExecOptions = {}): Promise<number> {
    await this.record({op: 'exec', command, sudo: options.sudo ?? false});
    return 0;
  }

  async upload(local: string, remote: string): Promise<void> {
    await this.record({op: 'upload', local, remote});
  }

  async close(): Promise<void> {}
}
