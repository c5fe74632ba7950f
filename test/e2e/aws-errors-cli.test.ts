import {after, afterEach, before, beforeEach, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {writeFile} from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import {DescribeInstancesCommand, DescribeKeyPairsCommand, DescribeSecurityGroupsCommand, EC2Client} from '@aws-sdk/client-ec2';
import {CreateBucketCommand, ListObjectsV2Command, S3Client} from '@aws-sdk/client-s3';
import {packageLibvirtBox} from '../../src/boxes/package.js';
import {run as exec} from '../../src/core/exec.js';
import {box, tempDir} from '../helpers/cli.js';
import {DUMMY_ACCESS_KEY, DUMMY_SECRET, startMoto, type Moto} from '../helpers/moto.js';
import {startFaultProxy} from '../providers/aws/fault-proxy.js';

// What the user reads when the endpoint, the profile or the API itself is the problem: the
// built CLI against moto (and the fault proxy in front of it), exit codes and messages.
const BOXFILE = `name: err-demo
basebox: debian-12
target: aws
targets:
  aws:
    ami: ami-1e749f67
    ssh_cidr: 198.51.100.7/32
`;

describe('aws errors name the endpoint, the action and the profile (CLI against moto)', () => {
  let moto: Moto;
  let ec2: EC2Client;
  let project: {dir: string; cleanup: () => Promise<void>};
  let home: {dir: string; cleanup: () => Promise<void>};
  let env: Record<string, string>;

  before(async () => {
    moto = await startMoto();
    ec2 = new EC2Client({region: 'us-east-1', endpoint: moto.url, credentials: {accessKeyId: DUMMY_ACCESS_KEY, secretAccessKey: DUMMY_SECRET}});
  });
  after(async () => {
    await moto?.stop();
  });
  beforeEach(async () => {
    await moto.reset();
    project = await tempDir('box-aws-err-');
    home = await tempDir('box-aws-err-home-');
    await writeFile(path.join(project.dir, 'Boxfile'), BOXFILE);
    env = {...moto.env, BOX_TEST_FAKE_SSH: '1', BOX_AWS_MAX_ATTEMPTS: '2'};
  });
  afterEach(async () => {
    await project.cleanup();
    await home.cleanup();
  });

  const run = (args: string[], extra: Record<string, string> = {}, unset: string[] = []) => box(args, {cwd: project.dir, boxHome: home.dir, env: Object.fromEntries(Object.entries({...env, ...extra}).filter(([k]) => !unset.includes(k)))});
  const nothingLeft = async () => {
    const live = ((await ec2.send(new DescribeInstancesCommand({Filters: [{Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped']}]}))).Reservations ?? []).flatMap((r) => r.Instances ?? []);
    assert.deepEqual(live, []);
    assert.deepEqual((await ec2.send(new DescribeKeyPairsCommand({}))).KeyPairs ?? [], []);
    assert.deepEqual(((await ec2.send(new DescribeSecurityGroupsCommand({}))).SecurityGroups ?? []).filter((g) => g.GroupName !== 'default'), []);
  };

  test('an unreachable endpoint is named by its URL', async () => {
    // A port nothing listens on: bind one, then close it.
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const {port} = server.address() as net.AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const up = await run(['up'], {AWS_ENDPOINT_URL_EC2: `http://127.0.0.1:${port}`});
    assert.equal(up.exitCode, 1, String(up.stderr));
    assert.match(String(up.stderr), new RegExp(`Cannot reach the AWS API at http://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\)`));
  });

  test('an action the endpoint lacks (ImportImage on moto) is reported as such, without an XML parse error or a destroy hint, and the upload is removed', async () => {
    const s3 = new S3Client({region: 'us-east-1', endpoint: moto.url, forcePathStyle: true, credentials: {accessKeyId: DUMMY_ACCESS_KEY, secretAccessKey: DUMMY_SECRET}});
    await s3.send(new CreateBucketCommand({Bucket: 'images'}));
    const img = path.join(project.dir, 'disk.qcow2');
    await exec('qemu-img', ['create', '-q', '-f', 'qcow2', img, '16M']);
    const packed = await packageLibvirtBox({imagePath: img, outputPath: path.join(project.dir, 'tiny.box')});
    assert.equal((await run(['box', 'add', 'tiny', packed.path, '--box-version', '1.0.0'])).exitCode, 0);

    const push = await run(['image', 'push', 'tiny', '--target', 'aws', '--bucket', 'images']);
    assert.equal(push.exitCode, 1, String(push.stderr));
    const stderr = String(push.stderr);
    assert.match(stderr, new RegExp(`The endpoint ${moto.url.replaceAll('.', '\\.')} does not support ImportImage \\(it answered HTTP 500`));
    assert.doesNotMatch(stderr, /XML parse error|Deserialization error/);
    assert.doesNotMatch(stderr, /box destroy/);
    assert.deepEqual((await s3.send(new ListObjectsV2Command({Bucket: 'images'}))).Contents ?? [], [], 'the upload was removed');
  });

  test('a non-XML 500 from an EC2-compatible endpoint says it does not support the action, and the failed up leaves nothing', async () => {
    const proxy = await startFaultProxy(moto.url, [{action: 'RunInstances', status: 500, html: true}]);
    try {
      const up = await run(['up'], {AWS_ENDPOINT_URL_EC2: proxy.url});
      assert.equal(up.exitCode, 1, String(up.stderr));
      assert.match(String(up.stderr), new RegExp(`The endpoint ${proxy.url.replaceAll('.', '\\.')} does not support RunInstances`));
      assert.doesNotMatch(String(up.stderr), /XML parse error/);
      // The failed first up removed everything it made: it must not claim to have left the machine.
      assert.match(String(up.stderr), /Failed: the new machine default was removed; nothing of it is left\./);
      assert.doesNotMatch(String(up.stderr), /left as it is/);
      await nothingLeft();
    } finally {
      await proxy.close();
    }
  });

  test('AWS_PROFILE naming a profile that does not exist says so, with or without a region', async () => {
    const noRegion = await run(['up'], {AWS_PROFILE: 'nonexistent'}, ['AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']);
    assert.equal(noRegion.exitCode, 2, String(noRegion.stderr));
    assert.match(String(noRegion.stderr), /The AWS profile "nonexistent" \(AWS_PROFILE\) is not defined in \/dev\/null or \/dev\/null/);
    assert.doesNotMatch(String(noRegion.stderr), /No AWS region/);
    const withRegion = await run(['up'], {AWS_PROFILE: 'nonexistent'}, ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']);
    assert.equal(withRegion.exitCode, 2, String(withRegion.stderr));
    assert.match(String(withRegion.stderr), /The AWS profile "nonexistent" \(AWS_PROFILE\) is not defined/);
    await nothingLeft();
  });
});
