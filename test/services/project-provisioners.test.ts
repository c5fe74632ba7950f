/**
 * Project-wide provisioners (host-side ansible's scope) and `run:` / --provision-with in the
 * lifecycle services, against the in-memory provider: one run for every machine of the command,
 * after all of them are up; `provisioned` recorded only once it succeeded.
 */
import assert from 'node:assert/strict';
import {writeFile} from 'node:fs/promises';
import path from 'node:path';
import {describe, test} from 'node:test';
import {z} from 'zod';
import {BoxError} from '../../src/core/errors.js';
import {readMachineState} from '../../src/core/state.js';
import type {ProjectProvisionContext} from '../../src/provisioners/provisioner.js';
import {registerProvisioner} from '../../src/provisioners/registry.js';
import {provision} from '../../src/services/provision.js';
import {up} from '../../src/services/up.js';
import {GatedProvider} from './gated-provider.js';
import {servicesSandbox} from './services-sandbox.js';

const runs: Array<{targets: string[]; machines: string[]; tag: string; eventsBefore: number}> = [];
let failNext = false;

describe('project-wide provisioners and run: once | always | never', () => {
  const fake = new GatedProvider();
  const sandbox = servicesSandbox('box-projprov-', fake, () => {
    fake.reset();
    runs.length = 0;
    failNext = false;
  });
  const opts = sandbox.opts;
  const boxfile = (text: string) => writeFile(path.join(sandbox.project(), 'Boxfile'), `basebox: debian-12-minimal\ntarget: virtualbox\n${text}`);
  const guestRan = (marker: string) => fake.guest.filter((g) => g.uploaded.some((u) => u.includes(marker))).map((g) => g.machine);

  registerProvisioner<{type: 'test-project'; tag: string}>({
    type: 'test-project',
    scope: 'project',
    boxfile: {schema: z.object({type: z.literal('test-project'), tag: z.string()}).strict()},
    async provision() {
      throw new Error('a project-wide provisioner is run by provisionProject');
    },
    async provisionProject(ctx: ProjectProvisionContext, config) {
      if (failNext) throw new BoxError('ERR_PROVISION_FAILED', 'Provisioner "x" (test-project) failed: exit code 2.');
      runs.push({targets: [...ctx.targets], machines: ctx.machines.map((m) => m.name), tag: config.tag, eventsBefore: fake.events.length});
      return {details: {seen: ctx.targets.length}};
    },
  });

  const three = `provisioners:
  - {type: shell, inline: echo own-marker}
  - {type: test-project, tag: site}
machines:
  web:
  app:
  db:
    depends_on: [app]
`;

  test('up runs the project-wide provisioner ONCE for all machines, after every machine is up and ran its own', async () => {
    await boxfile(three);
    const result = await up({...opts(), destroyOnError: true});
    assert.equal(runs.length, 1);
    assert.deepEqual(runs[0]!.targets, ['web', 'app', 'db']);
    assert.deepEqual(runs[0]!.machines.sort(), ['app', 'db', 'web']);
    // Every up had ended before it ran, and each machine's own shell provisioner had run.
    assert.equal(runs[0]!.eventsBefore, fake.events.length);
    assert.deepEqual(guestRan('own-marker').sort(), ['app', 'db', 'web']);
    assert.deepEqual(result.projectProvisioners.map((p) => [p.type, p.machines, p.details]), [['test-project', ['web', 'app', 'db'], {seen: 3}]]);
    for (const name of ['web', 'app', 'db']) assert.equal((await readMachineState(sandbox.project(), name))?.provisioned, true);
    assert.deepEqual(result.machines.map((m) => m.provisioned), [true, true, true]);
    // A later up of provisioned machines runs neither again.
    fake.guest = [];
    await up({...opts(), destroyOnError: true});
    assert.equal(runs.length, 1);
    assert.deepEqual(guestRan('own-marker'), []);
  });

  test('entries with different settings are separate runs; box provision of one machine runs it for that machine only', async () => {
    await boxfile(`provisioners:\n  - {type: test-project, tag: all}\nmachines:\n  web:\n    provisioners: [{type: test-project, tag: web-only}]\n  db:\n`);
    await up({...opts(), destroyOnError: true});
    assert.deepEqual(runs.map((r) => [r.tag, r.targets]), [['all', ['web', 'db']], ['web-only', ['web']]]);
    runs.length = 0;
    const again = await provision({...opts(), names: ['db']});
    assert.deepEqual(runs.map((r) => [r.tag, r.targets, r.machines.sort()]), [['all', ['db'], ['db', 'web']]]);
    assert.deepEqual(again.projectProvisioners.map((p) => p.machines), [['db']]);
  });

  test('a failed project-wide run fails the up, leaves the machines unprovisioned, and the next up runs it again', async () => {
    await boxfile(three);
    failNext = true;
    await assert.rejects(up({...opts(), destroyOnError: true}), (e: BoxError) => {
      assert.equal(e.code, 'ERR_PROVISION_FAILED');
      assert.deepEqual((e.partialResult?.machines as Array<{name: string}>).map((m) => m.name), ['web', 'app', 'db']);
      return true;
    });
    assert.equal((await readMachineState(sandbox.project(), 'web'))?.provisioned, false);
    failNext = false;
    await up({...opts(), destroyOnError: true});
    assert.deepEqual(runs.map((r) => r.targets), [['web', 'app', 'db']]);
    assert.equal((await readMachineState(sandbox.project(), 'web'))?.provisioned, true);
  });

  test('when a machine fails to come up, the others still get the run, and the up fails with the machine\'s error', async () => {
    await boxfile(three);
    fake.failing.add('up:web');
    await assert.rejects(up({...opts(), destroyOnError: true}), /up of web failed on purpose/);
    assert.deepEqual(runs.map((r) => r.targets), [['app', 'db']]);
  });

  test('run: always runs on every up, run: never only with --provision-with, which runs exactly what it names', async () => {
    await boxfile(`provisioners:
  - {type: shell, name: base, inline: echo base-marker}
  - {type: shell, name: boot, run: always, inline: echo always-marker}
  - {type: shell, name: seed, run: never, inline: echo never-marker}
  - {type: test-project, name: site, tag: site}
machines:
  web:
`);
    await up({...opts(), destroyOnError: true});
    assert.deepEqual([guestRan('base-marker'), guestRan('always-marker'), guestRan('never-marker'), runs.length], [['web'], ['web'], [], 1]);
    fake.guest = [];
    await up({...opts(), destroyOnError: true});
    assert.deepEqual([guestRan('base-marker'), guestRan('always-marker'), runs.length], [[], ['web'], 1]);
    fake.guest = [];
    const named = await provision({...opts(), provisionWith: ['seed', 'site']});
    assert.deepEqual([guestRan('base-marker'), guestRan('always-marker'), guestRan('never-marker'), runs.length], [[], [], ['web'], 2]);
    assert.equal(named.machines[0]!.provisioners, 2);
    fake.guest = [];
    await up({...opts(), destroyOnError: true, provisionWith: ['base']});
    assert.deepEqual([guestRan('base-marker'), guestRan('always-marker'), runs.length], [['web'], [], 2]);
    await assert.rejects(provision({...opts(), provisionWith: ['sed']}), {code: 'ERR_PROVISIONER_NOT_FOUND', exitCode: 2});
  });
});
