// Plain JavaScript so that fake-ssh-preload.mjs can load it into a built `box` process without
// a TypeScript loader; in-process tests import it as well.
import {appendFile, mkdir} from 'node:fs/promises';
import path from 'node:path';

/**
 * Pretends to be a guest's SSH server (instances of the moto emulator have none). Every call is
 * appended as one JSON line to `<dir>/fake-ssh.log` with the address it would have used, so
 * tests can assert what box would have run and where; commands "exit" 0 (and print nothing, but
 * for box up's cloud-init probe, answered as a guest without cloud-init).
 * @implements {import('../../src/communicators/communicator.js').Communicator}
 */
export class FakeCommunicator {
  /**
   * @param {string} dir the machine's folder
   * @param {import('../../src/communicators/communicator.js').SshInfo} info
   */
  constructor(dir, info) {
    this.info = info;
    this.log = path.join(dir, 'fake-ssh.log');
  }

  /** @param {Record<string, unknown>} entry */
  async record(entry) {
    await mkdir(path.dirname(this.log), {recursive: true});
    await appendFile(this.log, JSON.stringify({...entry, host: this.info.host, port: this.info.port, username: this.info.username}) + '\n');
  }

  async waitForReady() {
    await this.record({op: 'wait'});
  }

  /**
   * @param {string} command
   * @param {{sudo?: boolean, onOutput?: (stream: 'stdout' | 'stderr', data: string) => void}} [options]
   */
  async exec(command, options = {}) {
    await this.record({op: 'exec', command, sudo: options.sudo ?? false});
    // box up's cloud-init probe (services/lifecycle/cloud-init.ts): this guest has no cloud-init.
    if (command.startsWith("command -v 'cloud-init'")) options.onOutput?.('stdout', 'box-cloud-init:absent\n');
    return 0;
  }

  /**
   * @param {string} local
   * @param {string} remote
   */
  async upload(local, remote) {
    await this.record({op: 'upload', local, remote});
  }

  async close() {}
}
