// A target ("testbed") and a provisioner ("note") that exist only in test code, loaded into a
// built `box` with NODE_OPTIONS=--import=<this file> (test/plugins/plugins-cli.test.ts). They
// register through the same functions a target folder or provisioner file uses, into the
// built CLI's own modules (dist/), and nothing in src/ names them.
import {appendFile, mkdir, readFile, rm, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {z} from 'zod';
import {indexMachine, readMachineState, unindexMachine, writeMachineState} from '../../dist/core/state.js';
import {registerTarget} from '../../dist/providers/registry.js';
import {registerProvisioner} from '../../dist/provisioners/registry.js';
import {FakeCommunicator} from '../helpers/fake-communicator.mjs';

/** The VM of the testbed: a JSON file in the machine folder saying whether it "runs". */
const vmFile = (ctx) => path.join(ctx.dir, 'testbed-vm.json');
const readVm = async (ctx) => JSON.parse(await readFile(vmFile(ctx), 'utf8').catch(() => 'null'));

const provider = {
  name: 'testbed',
  async verify() {},
  async up(ctx) {
    const existing = await readMachineState(ctx.project.root, ctx.machine.name);
    if (!existing) {
      await mkdir(ctx.dir, {recursive: true});
      await writeMachineState(ctx.project.root, {machine: ctx.machine.name, target: 'testbed', createdAt: new Date().toISOString(), provisioned: false, upCompleted: false, provider: {}});
      await indexMachine({project: ctx.project.name, projectRoot: ctx.project.root, machine: ctx.machine.name, target: 'testbed'});
    }
    // What the provider was given: its own targets.testbed settings, resolved by box.
    await writeFile(vmFile(ctx), JSON.stringify({running: true, settings: ctx.machine.targetSettings}));
    return {created: !existing};
  },
  async halt(ctx) {
    const vm = await readVm(ctx);
    if (vm) await writeFile(vmFile(ctx), JSON.stringify({...vm, running: false}));
    return 'kill';
  },
  async destroy(ctx) {
    await unindexMachine(ctx.project.root, ctx.machine.name);
    await rm(vmFile(ctx), {force: true});
    await rm(path.join(ctx.dir, 'state.json'), {force: true});
  },
  async status(ctx) {
    const vm = await readVm(ctx);
    return {status: vm ? (vm.running ? 'running' : 'stopped') : 'not-created', details: {lanes: vm?.settings?.lanes}};
  },
  async sshInfo() {
    return {host: '127.0.0.1', port: 2299, username: 'tester', privateKeyPath: '/dev/null'};
  },
  async communicator(ctx, info) {
    return new FakeCommunicator(ctx.dir, info);
  },
};

registerTarget({
  name: 'testbed',
  aliases: ['bench'],
  settingsSchema: z.object({lanes: z.number().int().min(1).max(8).optional().describe('Lanes of the testbed.')}).strict(),
  vagrantProvider: 'testbed',
  features: {linkedClones: false, snapshots: false, privateNetwork: false, suspend: false},
  async doctor(project) {
    return {target: 'testbed', usable: true, summary: 'in test code', checks: [{name: 'testbed', ok: true, detail: project ? `project ${project.name}` : 'no project'}]};
  },
  async createProvider() {
    return provider;
  },
});

registerProvisioner({
  type: 'note',
  boxfile: {
    schema: z.object({type: z.literal('note'), text: z.string(), log: z.string().describe('A file on the host, relative to the Boxfile.')}).strict(),
    hostPaths: (config, abs) => ({...config, log: abs(config.log)}),
  },
  describe: (config) => `note ${config.text}`,
  async provision(ctx, config) {
    // Host-side (the SSH info) and guest-side (the communicator) in one provisioner.
    await appendFile(config.log, JSON.stringify({text: config.text, machine: ctx.machine, ssh: ctx.ssh}) + '\n');
    await ctx.comm.exec(`echo ${config.text}`);
  },
});
