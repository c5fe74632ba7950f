/**
 * `box snapshot` on the aws target through the CLI against moto (fake SSH preload, as the other
 * aws CLI tests): tagged EBS snapshots per volume, restore by swapping volumes made from them,
 * delete, and `destroy` / `sweep` leaving none behind. Clones (`box up NEW --from MACHINE[@SNAPSHOT]`):
 * launched from a CreateImage of the halted source or a RegisterImage of its snapshot, the image
 * removed once the clone runs.
 */
import {afterEach, beforeEach, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {readFile, rm, stat, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {DescribeImagesCommand, DescribeInstancesCommand, DescribeSnapshotsCommand, DescribeVolumesCommand} from '@aws-sdk/client-ec2';
import {awsBoxfile} from '../helpers/aws-boxfile.js';
import {box, boxJson} from '../helpers/cli.js';
import {NOTHING_LEFT, cloudLeftovers, motoSuite} from '../providers/aws/moto-suite.js';
import {fakeSshEnv} from '../helpers/fake-ssh.js';

const BOXFILE = awsBoxfile('snap-demo', `    block_device_mappings:
      - {device_name: /dev/sdb, volume_size: 4, volume_type: gp3}
`);

describe('box snapshot with the aws target against moto', () => {
  const suite = motoSuite({prefix: 'box-aws-snap', boxfile: BOXFILE});
  let env: Record<string, string>;
  beforeEach(() => {
    env = {...suite.moto.env, ...fakeSshEnv()};
  });
  afterEach(async () => {
    // Whatever a failed test left: destroy through the CLI (moto is reset before the next test anyway).
    await box(['destroy', '--force'], {cwd: suite.work, boxHome: suite.home, env}).catch(() => undefined);
  });

  const run = (args: string[]) => box(args, {cwd: suite.work, boxHome: suite.home, env});
  const runJson = (args: string[]) => boxJson(args, {cwd: suite.work, boxHome: suite.home, env});
  const boxSnapshots = async (name?: string) => (await suite.ec2.send(new DescribeSnapshotsCommand({OwnerIds: ['self'], Filters: [name ? {Name: 'tag:box:snapshot', Values: [name]} : {Name: 'tag-key', Values: ['box:snapshot']}]}))).Snapshots ?? [];
  const instance = async () => (await suite.ec2.send(new DescribeInstancesCommand({Filters: [{Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped']}]}))).Reservations?.flatMap((r) => r.Instances ?? [])[0];
  const volumesOf = (i: Awaited<ReturnType<typeof instance>>) => Object.fromEntries((i?.BlockDeviceMappings ?? []).map((b) => [b.DeviceName!, b.Ebs!.VolumeId!]));

  test('save tags one EBS snapshot per volume; restore swaps in volumes made from them and deletes the old ones; delete removes them', async () => {
    assert.equal((await run(['up'])).exitCode, 0);
    const before = volumesOf(await instance());
    // moto 5.2.1 attaches the mapped volume only (real EC2 would have the root one too): one snapshot per volume there is.
    assert.ok(Object.keys(before).length >= 1);

    const saved = await runJson(['snapshot', 'save', 's1']);
    assert.equal(saved.result.exitCode, 0, String(saved.result.stderr));
    const snaps = await boxSnapshots('s1');
    assert.equal(snaps.length, Object.keys(before).length);
    const tag = (s: (typeof snaps)[number], key: string) => s.Tags?.find((t) => t.Key === key)?.Value;
    for (const s of snaps) {
      assert.equal(tag(s, 'box:project'), 'snap-demo');
      assert.equal(tag(s, 'box:machine'), 'default');
      assert.ok(tag(s, 'box:token'));
      assert.ok(Object.values(before).includes(s.VolumeId!));
    }
    assert.deepEqual(new Set(snaps.map((s) => tag(s, 'box:device'))), new Set(Object.keys(before)));

    const restored = await runJson(['snapshot', 'restore', 's1']);
    assert.equal(restored.result.exitCode, 0, String(restored.result.stderr));
    const after = await instance();
    assert.equal(after?.State?.Name, 'running', 'it ran before, so it runs again');
    const now = volumesOf(after);
    assert.deepEqual(Object.keys(now).sort(), Object.keys(before).sort());
    for (const device of Object.keys(before)) assert.notEqual(now[device], before[device], `${device} was replaced`);
    const vols = (await suite.ec2.send(new DescribeVolumesCommand({}))).Volumes ?? [];
    assert.deepEqual(vols.map((v) => v.VolumeId).sort(), Object.values(now).sort(), 'the old volumes are deleted');
    const fromSnapshot = Object.fromEntries(vols.map((v) => [v.VolumeId, v.SnapshotId]));
    for (const s of snaps) assert.equal(fromSnapshot[now[tag(s, 'box:device')!]!], s.SnapshotId, 'each new volume comes from the snapshot of its device');
    assert.ok((after?.BlockDeviceMappings ?? []).every((b) => b.Ebs?.DeleteOnTermination === true), 'the new volumes go with the instance');

    const list = await runJson(['snapshot', 'list']);
    assert.deepEqual(list.json.machines[0].snapshots.map((s: {name: string}) => s.name), ['s1']);
    assert.equal(list.json.machines[0].snapshots[0].details.snapshots.length, Object.keys(before).length);

    assert.equal((await run(['snapshot', 'delete', 's1'])).exitCode, 0);
    assert.deepEqual(await boxSnapshots(), []);
  });

  test('sweep keeps the snapshots of a living machine; destroy deletes them and leaves no volume', async () => {
    assert.equal((await run(['up'])).exitCode, 0);
    const devices = Object.keys(volumesOf(await instance())).length;
    assert.equal((await run(['halt'])).exitCode, 0);
    assert.equal((await run(['snapshot', 'save', 'a'])).exitCode, 0);
    assert.equal((await run(['snapshot', 'push'])).exitCode, 0);
    assert.equal((await boxSnapshots()).length, 2 * devices);
    const restored = await runJson(['snapshot', 'restore', 'a']);
    assert.equal(restored.result.exitCode, 0, String(restored.result.stderr));
    assert.equal((await instance())?.State?.Name, 'stopped', 'a stopped instance stays stopped');

    const swept = await runJson(['sweep', '--dry-run']);
    assert.equal(swept.result.exitCode, 0, String(swept.result.stderr));
    assert.deepEqual(swept.json.resources.filter((r: {type: string}) => r.type === 'snapshot'), [], 'the machine still records them');

    assert.equal((await run(['destroy', '--force'])).exitCode, 0);
    assert.deepEqual(await boxSnapshots(), []);
    const left = ((await suite.ec2.send(new DescribeVolumesCommand({}))).Volumes ?? []).filter((v) => v.State !== 'deleted');
    assert.deepEqual(left.map((v) => v.VolumeId), []);
  });

  test('sweep removes the snapshots of a machine whose project state is gone', async () => {
    assert.equal((await run(['up'])).exitCode, 0);
    assert.equal((await run(['snapshot', 'save', 'lost'])).exitCode, 0);
    assert.ok((await boxSnapshots('lost')).length > 0);
    await rm(path.join(suite.work, '.box'), {recursive: true, force: true});
    const swept = await runJson(['sweep']);
    assert.equal(swept.result.exitCode, 0, String(swept.result.stderr));
    const removed = swept.json.resources.filter((r: {type: string; removed: boolean}) => r.type === 'snapshot' && r.removed);
    assert.ok(removed.length > 0);
    assert.match(removed[0].reason, /box snapshot lost/);
    assert.deepEqual(await boxSnapshots(), []);
  });

  describe('clones', () => {
    // Through the fault proxy (recorded as the machines' endpoint): it counts the calls box makes.
    const runVia = (args: string[]) => box(args, {cwd: suite.work, boxHome: suite.home, env: {...env, AWS_ENDPOINT_URL_EC2: suite.proxy.url}});
    const machineInstance = async (machine: string) => (await suite.ec2.send(new DescribeInstancesCommand({Filters: [{Name: 'tag:box:machine', Values: [machine]}, {Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped']}]}))).Reservations?.flatMap((r) => r.Instances ?? []) ?? [];
    const ownImages = async () => (await suite.ec2.send(new DescribeImagesCommand({Owners: ['self']}))).Images ?? [];
    const allSnapshotIds = async () => ((await suite.ec2.send(new DescribeSnapshotsCommand({OwnerIds: ['self']}))).Snapshots ?? []).map((s) => s.SnapshotId!).sort();
    const taggedFor = async (machine: string) => ({
      images: ((await suite.ec2.send(new DescribeImagesCommand({Owners: ['self'], Filters: [{Name: 'tag:box:machine', Values: [machine]}]}))).Images ?? []).length,
      snapshots: ((await suite.ec2.send(new DescribeSnapshotsCommand({OwnerIds: ['self'], Filters: [{Name: 'tag:box:machine', Values: [machine]}]}))).Snapshots ?? []).length,
    });
    const imageExists = async (id: string) => ((await suite.ec2.send(new DescribeImagesCommand({ImageIds: [id]})).catch(() => ({Images: []}))).Images ?? []).some((i) => i.ImageId === id && i.State !== 'deregistered');
    const recorded = async (machine: string) => JSON.parse(await readFile(path.join(suite.work, '.box', 'machines', machine, 'state.json'), 'utf8'));

    test('--from a halted machine: a new instance from a CreateImage of its instance, the image and its snapshots removed once it runs; destroy leaves nothing', async () => {
      assert.equal((await runVia(['up'])).exitCode, 0);
      assert.equal((await runVia(['halt'])).exitCode, 0);
      const [source] = await machineInstance('default');
      const snapshotsBefore = await allSnapshotIds();

      // A clone whose launch fails: its image goes with the rest.
      suite.proxy.faults = [{action: 'RunInstances', status: 400, code: 'Unsupported', message: 'The requested configuration is currently not supported.'}];
      const failed = await runVia(['up', 'copy', '--from', 'default']);
      assert.equal(failed.exitCode, 1, String(failed.stderr));
      assert.ok((suite.proxy.hits.get('CreateImage') ?? 0) > 0, 'the image was made before the launch failed');
      assert.deepEqual(await ownImages(), []);
      assert.deepEqual(await allSnapshotIds(), snapshotsBefore);
      await assert.rejects(stat(path.join(suite.work, '.box', 'machines', 'copy', 'state.json')), 'nothing recorded');
      suite.proxy.faults = [];
      suite.proxy.hits.clear();

      const up = await runVia(['up', 'copy', '--from', 'default']);
      assert.equal(up.exitCode, 0, String(up.stderr));
      assert.ok((suite.proxy.hits.get('CreateImage') ?? 0) > 0, 'CreateImage of the source instance');
      assert.equal(suite.proxy.hits.get('RegisterImage') ?? 0, 0);
      const clones = await machineInstance('copy');
      assert.equal(clones.length, 1);
      assert.equal(clones[0]!.State?.Name, 'running');
      assert.notEqual(clones[0]!.ImageId, source!.ImageId, 'launched from the clone image, not the source\'s AMI');
      assert.notEqual(clones[0]!.InstanceId, source!.InstanceId);
      assert.equal(await imageExists(clones[0]!.ImageId!), false, 'the clone image is deregistered');
      assert.deepEqual(await ownImages(), []);
      assert.deepEqual(await taggedFor('copy'), {images: 0, snapshots: 0});
      assert.deepEqual(await allSnapshotIds(), snapshotsBefore, 'the image\'s snapshots are deleted too');
      assert.equal((await machineInstance('default'))[0]?.State?.Name, 'stopped', 'the source stays as it was');
      const state = await recorded('copy');
      assert.deepEqual(state.cloneOf, {machine: 'default'});
      // Logged in with its own key, the clone takes its source's out and makes its own identity.
      const keyBody = async (machine: string) => (await readFile(`${(await recorded(machine)).provider.keyPair.privateKeyPath}.pub`, 'utf8')).trim().split(/\s+/)[1]!;
      const ssh = (await readFile(path.join(suite.work, '.box', 'machines', 'copy', 'fake-ssh.log'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as {op: string; command?: string});
      const identity = ssh.find((c) => c.op === 'exec' && c.command!.includes('systemd-machine-id-setup'));
      assert.ok(identity, ssh.map((c) => c.command ?? c.op).join('\n'));
      assert.ok(identity.command!.includes(`grep -vF ${await keyBody('default')} `), `the source's key is removed: ${identity.command}`);
      assert.ok(!identity.command!.includes(await keyBody('copy')), 'the clone\'s own key stays');
      assert.equal(state.provider.cloneImage, undefined, 'nothing left to remove at destroy');

      assert.equal((await runVia(['destroy', '--force'])).exitCode, 0);
      assert.deepEqual(await cloudLeftovers(suite.ec2), NOTHING_LEFT);
    });

    test('--from MACHINE@SNAPSHOT: RegisterImage from its EBS snapshots, which stay the source\'s; an unknown snapshot is a usage error naming those there are', async () => {
      // Without the /dev/sdb mapping: given one, moto 5.2.1 attaches that volume only, and the
      // instance then has no root volume (/dev/sda1) in its snapshot to register an image from.
      await writeFile(path.join(suite.work, 'Boxfile'), awsBoxfile('snap-demo'));
      assert.equal((await runVia(['up'])).exitCode, 0);
      assert.equal((await runVia(['snapshot', 'save', 's1'])).exitCode, 0);
      const s1 = (await boxSnapshots('s1')).map((s) => s.SnapshotId!).sort();
      assert.ok(s1.length > 0);

      const unknown = await runVia(['up', 'copy2', '--from', 'default@nope']);
      assert.equal(unknown.exitCode, 2, String(unknown.stderr));
      assert.match(String(unknown.stderr), /no snapshot "nope"/);
      assert.match(String(unknown.stderr), /Its snapshots: s1\./);
      assert.deepEqual(await machineInstance('copy2'), []);
      await assert.rejects(stat(path.join(suite.work, '.box', 'machines', 'copy2', 'state.json')), 'nothing recorded');

      const snapshotsBefore = await allSnapshotIds();
      const up = await runVia(['up', 'copy2', '--from', 'default@s1']);
      assert.equal(up.exitCode, 0, String(up.stderr));
      assert.ok((suite.proxy.hits.get('RegisterImage') ?? 0) > 0, 'RegisterImage from the snapshot');
      assert.equal(suite.proxy.hits.get('CreateImage') ?? 0, 0);
      const [clone] = await machineInstance('copy2');
      assert.equal(clone?.State?.Name, 'running');
      assert.notEqual(clone!.ImageId, (await machineInstance('default'))[0]!.ImageId);
      assert.equal(await imageExists(clone!.ImageId!), false, 'the clone image is deregistered');
      assert.deepEqual(await ownImages(), []);
      assert.deepEqual(await taggedFor('copy2'), {images: 0, snapshots: 0});
      assert.deepEqual(await allSnapshotIds(), snapshotsBefore, 'no snapshot made or lost');
      assert.deepEqual((await boxSnapshots('s1')).map((s) => s.SnapshotId!).sort(), s1, 'the source keeps its snapshot');
      assert.deepEqual((await recorded('copy2')).cloneOf, {machine: 'default', snapshot: 's1'});

      assert.equal((await runVia(['destroy', '--force'])).exitCode, 0);
      assert.deepEqual(await cloudLeftovers(suite.ec2), NOTHING_LEFT);
    });
  });
});
