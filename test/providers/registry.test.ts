import assert from 'node:assert/strict';
import {mkdtemp, rm} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {test} from 'node:test';
import {z} from 'zod';
import {canonicalTarget, targetAliasSpecs, targetNames} from '../../src/boxfile/schema.js';
import type {Provider} from '../../src/providers/provider.js';
import {providerFor, registerTarget, removeLeftovers, targetDescriptor, targetDescriptors} from '../../src/providers/registry.js';
import {runDoctor} from '../../src/services/doctor.js';

test('the registry holds the targets the Boxfile accepts, with the same aliases', () => {
  assert.deepEqual(targetDescriptors().map((t) => t.name), targetNames());
  for (const target of targetDescriptors()) {
    const aliases = targetAliasSpecs().filter((alias) => alias.target === target.name).map((alias) => alias.name);
    assert.deepEqual(target.aliases.map((alias) => (typeof alias === 'string' ? alias : alias.name)).sort(), aliases.sort(), target.name);
  }
  assert.deepEqual(targetAliasSpecs().map((alias) => [alias.name, canonicalTarget(alias.name)]), [['kvm', 'qemu'], ['libvirt', 'qemu']]);
  assert.deepEqual(targetDescriptors().map((t) => [t.name, t.vagrantProvider]), [['qemu', 'libvirt'], ['virtualbox', 'virtualbox'], ['aws', 'aws']]);
});

test('a target registered from outside src is reached by box doctor, providerFor and the leftovers sweep', async () => {
  const provider = {name: 'plugin'} as Provider;
  const calls: string[] = [];
  registerTarget({
    name: 'plugin',
    aliases: [],
    settingsSchema: z.object({}).strict(),
    vagrantProvider: 'plugin',
    features: {linkedClones: false, snapshots: false, privateNetwork: false, suspend: false},
    async doctor(project) {
      calls.push(`doctor ${project ? 'project' : 'no project'}`);
      return {target: 'plugin', usable: true, summary: 'always here', checks: [{name: 'plugin-tool', ok: true, detail: '1.0'}]};
    },
    async createProvider() {
      return provider;
    },
    async removeLeftovers() {
      calls.push('leftovers');
      return ['/tmp/plugin-leftover'];
    },
  });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'box-registry-'));
  const env = {...process.env};
  // No Boxfile here (a fresh BOX_HOME), and the aws check must not wait for an instance role.
  Object.assign(process.env, {BOX_HOME: path.join(dir, 'home'), AWS_EC2_METADATA_DISABLED: 'true'});
  try {
    const report = await runDoctor({cwd: dir});
    assert.deepEqual(report.targets.map((t) => t.target), ['qemu', 'virtualbox', 'aws', 'plugin']);
    assert.deepEqual(report.targets.at(-1), {target: 'plugin', usable: true, summary: 'always here', checks: [{name: 'plugin-tool', ok: true, detail: '1.0'}]});
    assert.equal(await providerFor('plugin'), provider);
    assert.equal(targetDescriptor('plugin').vagrantProvider, 'plugin');
    assert.ok((await removeLeftovers()).includes('/tmp/plugin-leftover'));
    assert.deepEqual(calls, ['doctor no project', 'leftovers']);
  } finally {
    process.env = env;
    await rm(dir, {recursive: true, force: true});
  }
});

test('an unknown target is ERR_TARGET_UNSUPPORTED', async () => {
  await assert.rejects(providerFor('hyperv'), {code: 'ERR_TARGET_UNSUPPORTED'});
});
