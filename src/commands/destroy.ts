import {createInterface} from 'node:readline/promises';
import {Flags} from '@oclif/core';
import {projectFlags} from '../services/project-flags.js';
import {BaseCommand} from '../core/base-command.js';
import {destroy, type DestroyResult} from '../services/destroy.js';
import {concurrencyFlags, lifecycleOptions} from '../services/lifecycle/options.js';

export default class Destroy extends BaseCommand {
  static override description = `Stop machines and delete their disks and state. Idempotent; also cleans up machines half-created by a crash.
Asks for confirmation only when stdin is a terminal and --force is absent; without a terminal (scripts, CI) it proceeds.`;
  static override strict = false;
  static override usage = 'destroy [MACHINE...] [--force] [--parallel N | --no-parallel]';
  static override examples = ['<%= config.bin %> destroy --force', '<%= config.bin %> destroy web'];

  static override flags = {
    ...projectFlags,
    ...concurrencyFlags,
    force: Flags.boolean({char: 'f', description: 'Do not ask for confirmation.'}),
  };

  async run(): Promise<DestroyResult> {
    const {flags, argv} = await this.parse(Destroy);
    const ask = !flags.force && !this.jsonEnabled() && process.stdin.isTTY && process.stderr.isTTY;
    return destroy({
      ...lifecycleOptions(flags, argv, this.ui, this.signal),
      confirm: ask ? (name) => confirm(`Destroy machine ${name} and its disk? [y/N] `) : undefined,
    });
  }
}

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({input: process.stdin, output: process.stderr});
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}
