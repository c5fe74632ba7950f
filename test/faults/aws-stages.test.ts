/**
 * kill -9 and Ctrl-C at every stage boundary of `box up --target aws` and of the AMI bake
 * (`box build --target aws`), against the moto EC2 emulator; then the follow-up a user would run:
 * status tells the truth, `box destroy` (a machine) or `box sweep` (a bake) leaves no cloud
 * resource, file, lock or process. moto instances have no SSH server: the runs set
 * the fake SSH preload (fakeSshEnv) as the other CLI tests against moto do (see docs/aws.md).
 */
import assert from 'node:assert/strict';
import {readdirSync} from 'node:fs';
import {after, before, describe, test} from 'node:test';
import {startMoto, type Moto} from '../helpers/moto.js';
import {awsCases, type AwsCase} from './aws-case.js';
import {awsBoxfile} from '../helpers/aws-boxfile.js';
import {UNEXPECTED, assertInterrupted, assertStoppedAt, describeRun, type BoxRun, type Fault} from './harness.js';

const AWS_BOXFILE = awsBoxfile('aws-faults', 'provisioners:\n  - type: shell\n    inline: echo provisioned\n');

const BAKE_TEMPLATE = 'name: fault-bake\nversion: 0.1.0\nmethod: box\nsource: box base\npost_install:\n  - inline: ["touch /etc/baked"]\n';

/** Every stage a first `box up` on aws goes through, in order (checked against a clean run). */
const UP_STAGES = ['up', 'ami', 'key-pair', 'security-group', 'private-network', 'run-instance', 'run-instance#2', 'boot', 'wait-for-running', 'wait-for-ssh', 'provision', 'provision#2'];
/** Every stage of the AMI bake, in order. */
const BAKE_STAGES = ['bake-record', 'temporary-key-pair', 'temporary-security-group', 'launch-source', 'wait-for-ssh', 'provision', 'stop-source', 'create-image'];
const BAKE_RECORDS = [/\/home\/bakes(\/aws)?$/];

function stageNames(run: BoxRun): string[] {
  const counts = new Map<string, number>();
  return run.stages.filter((s) => s.pid === run.stages[0]?.pid && s.name !== '!fault').map((s) => {
    const n = (counts.get(s.name) ?? 0) + 1;
    counts.set(s.name, n);
    return n === 1 ? s.name : `${s.name}#${n}`;
  });
}

describe('kill -9 and Ctrl-C at every stage of aws up and of the AMI bake (moto)', {timeout: 20 * 60_000, concurrency: 2}, () => {
  let moto: Moto;
  let run: (label: string, fn: (c: AwsCase) => Promise<void>) => Promise<void>;

  before(async () => {
    moto = await startMoto();
    run = awsCases(moto, {boxfile: AWS_BOXFILE, files: {'tpl/template.yaml': BAKE_TEMPLATE}});
  });
  after(async () => {
    await moto?.stop();
  });

  const bake = (c: AwsCase, fault?: Fault) => c.sandbox.box(['build', 'tpl', '--template-dir', c.sandbox.project, '--target', 'aws', '--output', c.sandbox.out, '--json'], {fault});

  test('the stage lists below are the stages a clean up and bake go through', () => run('stages', async (c) => {
    const up = await c.sandbox.json(['up']);
    assert.equal(up.exitCode, 0, describeRun(up));
    assert.deepEqual(stageNames(up), UP_STAGES, 'a stage was added or renamed: update UP_STAGES so the fault matrix covers it');
    const baked = await bake(c);
    assert.equal(baked.exitCode, 0, describeRun(baked));
    assert.deepEqual(stageNames(baked), BAKE_STAGES, 'update BAKE_STAGES so the fault matrix covers the new stage');
    assert.equal((await c.sandbox.json(['destroy', '--force'])).exitCode, 0);
    // The baked AMI is the product: it stays, with its snapshot, and so does the box.
    await c.clean('clean up, bake and destroy', [/^(image|snapshot) /, /\/out\//, ...BAKE_RECORDS]);
  }));

  for (const stage of UP_STAGES) {
    const created = stage.startsWith('provision');
    test(`up: kill -9 at ${stage}, then status tells the truth and ${created ? 'the next up provisions' : 'destroy leaves nothing'}`, () => run(`kill-${stage}`, async (c) => {
      const fault: Fault = {stage, action: 'kill'};
      const up = await c.sandbox.box(['up', '--json'], {fault});
      assertStoppedAt(up, fault);
      const status = await c.sandbox.json(['status']);
      assert.equal(status.exitCode, 0, describeRun(status));
      const m = status.json.machines[0];
      if (created) {
        // The instance was up and recorded; only the provisioners were cut short.
        assert.equal(m.status, 'running', describeRun(status));
        const again = await c.sandbox.json(['up']);
        assert.equal(again.exitCode, 0, describeRun(again));
        assert.equal(again.json.machines[0].ranProvisioners, true, 'the next up runs the provisioners that never finished');
      } else {
        assert.ok(['not-created', 'broken'].includes(m.status), `a machine whose first up was killed is not-created or broken, not ${m.status}`);
        if (m.status === 'broken') assert.match(m.repair, /^box destroy/);
      }
      const destroy = await c.sandbox.json(['destroy', '--force']);
      assert.equal(destroy.exitCode, 0, describeRun(destroy));
      await c.clean(`up killed at ${stage}, then destroy`);
    }));

    test(`up: Ctrl-C at ${stage} exits 130 and leaves nothing, in the cloud or here`, () => run(`int-${stage}`, async (c) => {
      const fault: Fault = {stage, action: 'ctrl-c'};
      const up = await c.sandbox.box(['up', '--json'], {fault});
      assertStoppedAt(up, fault);
      if (up.exitCode === 0) {
        // The fake guest answers at once: the last provisioner may finish before box sees the
        // signal. Then the machine is whole, and destroy must still leave nothing.
        assert.equal(stage, 'provision#2', describeRun(up));
        assert.equal((await c.sandbox.json(['destroy', '--force'])).exitCode, 0);
      } else {
        assertInterrupted(up);
        assert.doesNotMatch(up.stderr, /was left as it is/, 'a new machine whose up was interrupted is removed, and box says so (issue 10, AWS 5)');
      }
      await c.clean(`up interrupted at ${stage}`);
    }));
  }

  // A clone's up (--from the halted source): its image exists once the key-pair stage starts.
  for (const action of ['kill', 'ctrl-c'] as const) {
    test(`up --from: ${action === 'kill' ? 'kill -9' : 'Ctrl-C'} once the clone's image exists (at key-pair), then destroy leaves nothing`, () => run(`clone-${action}`, async (c) => {
      assert.equal((await c.sandbox.json(['up'])).exitCode, 0);
      assert.equal((await c.sandbox.json(['halt'])).exitCode, 0);
      const fault: Fault = {stage: 'key-pair', action};
      const up = await c.sandbox.box(['up', 'copy', '--from', 'default', '--json'], {fault});
      assertStoppedAt(up, fault);
      if (action === 'ctrl-c') assertInterrupted(up);
      const status = await c.sandbox.json(['status']);
      assert.deepEqual(status.json.machines.map((m: {name: string; status: string}) => `${m.name}:${m.status}`),
        action === 'kill' ? ['default:stopped', 'copy:broken'] : ['default:stopped'], describeRun(status));
      const destroy = await c.sandbox.json(['destroy', '--force']);
      assert.equal(destroy.exitCode, 0, describeRun(destroy));
      await c.clean(`clone up ${action === 'kill' ? 'killed' : 'interrupted'} at key-pair, then destroy`);
    }));
  }

  for (const stage of BAKE_STAGES) {
    test(`bake: kill -9 at ${stage}, then sweep removes every resource and work file it left`, () => run(`bake-kill-${stage}`, async (c) => {
      const fault: Fault = {stage, action: 'kill'};
      assertStoppedAt(await bake(c, fault), fault);
      const sweep = await c.sandbox.json(['sweep', '--images']);
      assert.equal(sweep.exitCode, 0, describeRun(sweep));
      assert.doesNotMatch(sweep.stderr, UNEXPECTED);
      assert.ok(sweep.json.resources.every((r: {removed?: boolean}) => r.removed), describeRun(sweep));
      const again = await c.sandbox.json(['sweep', '--images', '--dry-run']);
      assert.deepEqual(again.json.resources, [], `a second sweep finds nothing more:\n${describeRun(again)}`);
      // The dead bake's record (BOX_HOME/bakes/aws/TOKEN.json) goes with its resources, and its
      // work folder (box-bake-*, holding the private key) too (issue 10, 8b).
      await c.clean(`bake killed at ${stage}, then sweep`, BAKE_RECORDS);
    }));

    test(`bake: Ctrl-C at ${stage} exits 130 and leaves nothing`, () => run(`bake-int-${stage}`, async (c) => {
      const fault: Fault = {stage, action: 'ctrl-c'};
      const baked = await bake(c, fault);
      assertStoppedAt(baked, fault);
      assertInterrupted(baked);
      await c.clean(`bake interrupted at ${stage}`, BAKE_RECORDS);
      assert.deepEqual(readdirSync(c.sandbox.out), [], 'no partial box');
    }));
  }
});
