import {after, afterEach, before, beforeEach, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {existsSync} from 'node:fs';
import {mkdir, readdir, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {execa} from 'execa';
import {DescribeImagesCommand, DescribeInstancesCommand, DescribeKeyPairsCommand, DescribeSecurityGroupsCommand, DescribeSnapshotsCommand, EC2Client} from '@aws-sdk/client-ec2';
import {CreateBucketCommand, S3Client} from '@aws-sdk/client-s3';
import {packageLibvirtBox} from '../../src/boxes/package.js';
import {run as exec} from '../../src/core/exec.js';
import {box, boxBin, boxJson, tempDir} from '../helpers/cli.js';
import {DUMMY_ACCESS_KEY, DUMMY_SECRET, startMoto, type Moto} from '../helpers/moto.js';
import {startFaultProxy, type FaultProxy} from '../providers/aws/fault-proxy.js';

// A real box process killed with -9 in the middle of a bake or an image push, against moto:
// the fault proxy holds the answer of one call (after moto acted) so the kill lands there.
// What it left (cloud resources, the bake's private key and the push's disk image in the
// temp dir) must be found and removed by `box sweep`, `box destroy` or the next run.
const BOXFILE = `name: killed
basebox: debian-12
target: aws
targets:
  aws:
    ami: ami-1e749f67
    ssh_cidr: 198.51.100.7/32
`;
const TEMPLATE = 'name: killed-bake\nversion: 1.0.0\nmethod: box\nsource: box base\npost_install:\n  - inline: ["true"]\n';
/** The CreateImage that tags the image only (moto takes no snapshot tags at CreateImage; real EC2 does). */
const imageOnly = (p: URLSearchParams) => !p.has('TagSpecification.2.ResourceType');

describe('a box process killed with -9 mid-bake or mid-push leaves nothing sweep, destroy or the next run cannot remove', () => {
  let moto: Moto;
  let ec2: EC2Client;
  let proxy: FaultProxy;
  let project: {dir: string; cleanup: () => Promise<void>};
  let home: {dir: string; cleanup: () => Promise<void>};
  let tmp: string;

  before(async () => {
    moto = await startMoto();
    ec2 = new EC2Client({region: 'us-east-1', endpoint: moto.url, credentials: {accessKeyId: DUMMY_ACCESS_KEY, secretAccessKey: DUMMY_SECRET}});
    proxy = await startFaultProxy(moto.url);
  });
  after(async () => {
    await proxy?.close();
    await moto?.stop();
  });
  beforeEach(async () => {
    await moto.reset();
    proxy.faults = [];
    project = await tempDir('box-killed-');
    home = await tempDir('box-killed-home-');
    await writeFile(path.join(project.dir, 'Boxfile'), BOXFILE);
    await mkdir(path.join(project.dir, 'tpl'));
    await writeFile(path.join(project.dir, 'tpl', 'template.yaml'), TEMPLATE);
    // box's own temp dir for these runs: what it leaves there is all ours to look at.
    tmp = path.join(project.dir, 'tmp');
    await mkdir(tmp);
  });
  afterEach(async () => {
    await project.cleanup();
    await home.cleanup();
  });

  const env = (viaProxy: boolean) => ({...moto.env, BOX_TEST_FAKE_SSH: '1', TMPDIR: tmp, ...(viaProxy ? {AWS_ENDPOINT_URL_EC2: proxy.url} : {})});
  const run = (args: string[]) => box(args, {cwd: project.dir, boxHome: home.dir, env: env(false)});
  /** Starts box through the proxy, waits until it is inside the held call, and kills it with -9. */
  const killDuring = async (args: string[], action: string, when?: (p: URLSearchParams) => boolean) => {
    proxy.faults = [{action, after: 'hold', times: 1, when}];
    const inside = proxy.seen(action, when);
    const child = execa(process.execPath, [boxBin, ...args], {cwd: project.dir, env: {BOX_HOME: home.dir, NO_COLOR: '1', ...env(true)}, reject: false});
    await Promise.race([inside, child.then((r) => { throw new Error(`box exited before ${action}: ${r.stderr}`); })]);
    child.kill('SIGKILL');
    const result = await child;
    assert.equal(result.signal, 'SIGKILL');
    proxy.faults = [];
  };
  const cloud = async () => ({
    instances: ((await ec2.send(new DescribeInstancesCommand({Filters: [{Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped']}]}))).Reservations ?? []).flatMap((r) => r.Instances ?? []).length,
    images: ((await ec2.send(new DescribeImagesCommand({Owners: ['self']}))).Images ?? []).length,
    snapshots: ((await ec2.send(new DescribeSnapshotsCommand({OwnerIds: ['self'], Filters: [{Name: 'tag-key', Values: ['box:bake']}]}))).Snapshots ?? []).length,
    keyPairs: ((await ec2.send(new DescribeKeyPairsCommand({}))).KeyPairs ?? []).length,
    groups: ((await ec2.send(new DescribeSecurityGroupsCommand({}))).SecurityGroups ?? []).filter((g) => g.GroupName !== 'default').length,
  });

  test('killed during CreateImage: the AMI is tagged on creation, and sweep removes it, its snapshot, the temporary resources and the work folder with the private key', async () => {
    await killDuring(['build', './tpl', '--target', 'aws', '--output', 'out'], 'CreateImage', imageOnly);
    const [workDir] = await readdir(tmp);
    assert.match(workDir ?? '', /^box-bake-/, 'the killed bake left its work folder');
    assert.ok(existsSync(path.join(tmp, workDir, 'bake_ed25519')), 'with the private key in it');
    const [image] = (await ec2.send(new DescribeImagesCommand({Owners: ['self']}))).Images ?? [];
    assert.ok(image?.Tags?.some((t) => t.Key === 'box:token'), 'the AMI moto made carries the bake\'s token from its creation');

    const dry = await boxJson(['sweep', '--dry-run'], {cwd: project.dir, boxHome: home.dir, env: env(false)});
    assert.ok(dry.json.resources.some((r: {type: string; id: string}) => r.type === 'work-folder' && r.id === path.join(tmp, workDir)), JSON.stringify(dry.json.resources));
    assert.deepEqual(await readdir(tmp), [workDir], 'a dry run removes nothing');
    const swept = await boxJson(['sweep'], {cwd: project.dir, boxHome: home.dir, env: env(false)});
    assert.equal(swept.result.exitCode, 0, String(swept.result.stderr));
    assert.deepEqual(await cloud(), {instances: 0, images: 0, snapshots: 0, keyPairs: 0, groups: 0});
    assert.deepEqual(await readdir(tmp), [], 'the private key is gone from the temp dir');
    assert.deepEqual(await readdir(path.join(home.dir, 'bakes', 'aws')), [], 'and so is the dead bake\'s record');
  });

  test('killed while launching: box destroy removes the work folder, sweep the cloud side', async () => {
    await killDuring(['build', './tpl', '--target', 'aws', '--output', 'out'], 'RunInstances');
    assert.equal((await readdir(tmp)).length, 1);
    const destroyed = await run(['destroy', '--force']);
    assert.equal(destroyed.exitCode, 0, String(destroyed.stderr));
    assert.deepEqual(await readdir(tmp), []);
    assert.equal((await run(['sweep'])).exitCode, 0);
    assert.deepEqual(await cloud(), {instances: 0, images: 0, snapshots: 0, keyPairs: 0, groups: 0});
  });

  test('killed during ImportImage: the next push removes the killed one\'s work folder (its disk image)', async () => {
    const s3 = new S3Client({region: 'us-east-1', endpoint: moto.url, forcePathStyle: true, credentials: {accessKeyId: DUMMY_ACCESS_KEY, secretAccessKey: DUMMY_SECRET}});
    await s3.send(new CreateBucketCommand({Bucket: 'images'}));
    const img = path.join(project.dir, 'disk.qcow2');
    await exec('qemu-img', ['create', '-q', '-f', 'qcow2', img, '16M']);
    const packed = await packageLibvirtBox({imagePath: img, outputPath: path.join(project.dir, 'tiny.box')});
    assert.equal((await run(['box', 'add', 'tiny', packed.path, '--box-version', '1.0.0'])).exitCode, 0);

    await killDuring(['image', 'push', 'tiny', '--target', 'aws', '--bucket', 'images'], 'ImportImage');
    const [workDir] = await readdir(tmp);
    assert.match(workDir ?? '', /^box-push-/);
    assert.ok(existsSync(path.join(tmp, workDir, 'disk.vmdk')), 'the killed push left its disk image');
    // moto has no ImportImage: the next push fails there, but first removes what the killed one left.
    const next = await run(['image', 'push', 'tiny', '--target', 'aws', '--bucket', 'images']);
    assert.equal(next.exitCode, 1);
    assert.match(String(next.stderr), /does not support ImportImage/);
    assert.deepEqual(await readdir(tmp), []);
  });
});
