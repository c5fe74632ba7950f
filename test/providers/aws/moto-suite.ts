import {after, afterEach, before, beforeEach} from 'node:test';
import {writeFile} from 'node:fs/promises';
import path from 'node:path';
import {CreateBucketCommand, S3Client} from '@aws-sdk/client-s3';
import {packageLibvirtBox} from '../../../src/boxes/package.js';
import {run} from '../../../src/core/exec.js';
import {
  DescribeImagesCommand, DescribeInstancesCommand, DescribeKeyPairsCommand, DescribeSecurityGroupsCommand, DescribeSnapshotsCommand, EC2Client,
} from '@aws-sdk/client-ec2';
import {setAwsCommunicatorFactory} from '../../../src/providers/aws/communicator-factory.js';
import {FakeCommunicator} from '../../helpers/fake-ssh.js';
import {tempDir} from '../../helpers/cli.js';
import {DUMMY_ACCESS_KEY, DUMMY_SECRET, startMoto, useMotoEnv, type Moto} from '../../helpers/moto.js';
import {startFaultProxy, type FaultProxy} from './fault-proxy.js';

/** What a test of a moto suite works with; filled in by the suite's hooks. */
export interface MotoSuite {
  moto: Moto;
  /** A client straight to moto (not through the proxy), to look at what box left. */
  ec2: EC2Client;
  /** A fault proxy in front of moto; faults and pages are cleared before each test. */
  proxy: FaultProxy;
  /** A fresh folder per test (a project root), and a fresh BOX_HOME. */
  work: string;
  home: string;
}

/**
 * Registers the hooks of a test file against moto: one emulator and fault proxy per file, reset
 * before each test with a fresh work folder and BOX_HOME. `inProcess` (provider and service
 * tests) also sets moto's environment, BOX_HOME and the recording SSH communicator on this
 * process; CLI tests pass `moto.env` to the box they run instead.
 */
export function motoSuite(options: {prefix: string; inProcess?: boolean; boxfile?: string}): MotoSuite {
  const suite = {} as MotoSuite;
  let restoreEnv: (() => void) | undefined;
  const cleanups: Array<() => Promise<void>> = [];
  before(async () => {
    suite.moto = await startMoto();
    suite.ec2 = new EC2Client({region: 'us-east-1', endpoint: suite.moto.url, credentials: {accessKeyId: DUMMY_ACCESS_KEY, secretAccessKey: DUMMY_SECRET}});
    suite.proxy = await startFaultProxy(suite.moto.url);
    if (options.inProcess) {
      restoreEnv = useMotoEnv(suite.moto);
      setAwsCommunicatorFactory(async (info, dir) => new FakeCommunicator(dir, info));
    }
  });
  after(async () => {
    if (options.inProcess) setAwsCommunicatorFactory(undefined);
    restoreEnv?.();
    await suite.proxy?.close();
    await suite.moto?.stop();
  });
  beforeEach(async () => {
    await suite.moto.reset();
    suite.proxy.faults = [];
    suite.proxy.paging = {};
    suite.proxy.hibernation = 'works';
    suite.proxy.hits.clear();
    suite.proxy.requests.length = 0;
    const work = await tempDir(`${options.prefix}-`);
    const home = await tempDir(`${options.prefix}-home-`);
    suite.work = work.dir;
    suite.home = home.dir;
    cleanups.push(work.cleanup, home.cleanup);
    if (options.inProcess) process.env.BOX_HOME = home.dir;
    if (options.boxfile) await writeFile(path.join(work.dir, 'Boxfile'), options.boxfile);
  });
  afterEach(async () => {
    if (options.inProcess) delete process.env.BOX_HOME;
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });
  return suite;
}

/** What is left on moto that box could have made: live instances, own images and box snapshots, key pairs, groups. */
export async function cloudLeftovers(ec2: EC2Client): Promise<{instances: number; images: number; snapshots: number; keyPairs: number; groups: number}> {
  return {
    instances: ((await ec2.send(new DescribeInstancesCommand({Filters: [{Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped']}]}))).Reservations ?? []).flatMap((r) => r.Instances ?? []).length,
    images: ((await ec2.send(new DescribeImagesCommand({Owners: ['self']}))).Images ?? []).length,
    snapshots: ((await ec2.send(new DescribeSnapshotsCommand({OwnerIds: ['self'], Filters: [{Name: 'tag-key', Values: ['box:host']}]}))).Snapshots ?? []).length,
    keyPairs: ((await ec2.send(new DescribeKeyPairsCommand({}))).KeyPairs ?? []).length,
    groups: ((await ec2.send(new DescribeSecurityGroupsCommand({}))).SecurityGroups ?? []).filter((g) => g.GroupName !== 'default').length,
  };
}

/**
 * What `box image push tiny --bucket images` needs: a tiny libvirt box "tiny" 1.0.0 added to the
 * store (through `box box add`, run by `box`) and the bucket on moto's S3.
 */
export async function tinyBoxAndBucket(suite: MotoSuite, box: (args: string[]) => Promise<{exitCode?: number}>): Promise<S3Client> {
  const s3 = new S3Client({region: 'us-east-1', endpoint: suite.moto.url, forcePathStyle: true, credentials: {accessKeyId: DUMMY_ACCESS_KEY, secretAccessKey: DUMMY_SECRET}});
  await s3.send(new CreateBucketCommand({Bucket: 'images'}));
  const img = path.join(suite.work, 'disk.qcow2');
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', img, '16M']);
  const packed = await packageLibvirtBox({imagePath: img, outputPath: path.join(suite.work, 'tiny.box')});
  const added = await box(['box', 'add', 'tiny', packed.path, '--box-version', '1.0.0']);
  if (added.exitCode !== 0) throw new Error('box box add of the tiny box failed');
  return s3;
}

/** Nothing of box left on moto. */
export const NOTHING_LEFT = {instances: 0, images: 0, snapshots: 0, keyPairs: 0, groups: 0};
