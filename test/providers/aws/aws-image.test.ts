import {after, afterEach, before, beforeEach, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {spawnSync} from 'node:child_process';
import {readdir, readFile} from 'node:fs/promises';
import path from 'node:path';
import {
  CancelExportTaskCommand, CancelImportTaskCommand, CreateTagsCommand, DescribeExportImageTasksCommand, DescribeImportImageTasksCommand, EC2Client,
  ExportImageCommand, ImportImageCommand, DescribeInstancesCommand, DescribeAddressesCommand, DescribeSecurityGroupsCommand, DescribeKeyPairsCommand,
  DescribeImagesCommand, DescribeSnapshotsCommand,
} from '@aws-sdk/client-ec2';
import {CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client} from '@aws-sdk/client-s3';
import {mockClient} from 'aws-sdk-client-mock';
import {packageLibvirtBox} from '../../../src/boxes/package.js';
import {findStoredBox} from '../../../src/boxes/store.js';
import {BoxError} from '../../../src/core/errors.js';
import {run} from '../../../src/core/exec.js';
import {silentUi} from '../../../src/core/ui.js';
import {addBox} from '../../../src/boxes/add.js';
import {pullImage, pushImage} from '../../../src/services/aws-image.js';
import {writeTransferRecord} from '../../../src/providers/aws/transfer-records.js';
import {sweep} from '../../../src/services/sweep.js';
import {tempDir} from '../../helpers/cli.js';
import {startMoto, useMotoEnv, type Moto} from '../../helpers/moto.js';

// moto 5.2.1 has no ImportImage/ExportImage (HTTP 500 with HTML), so the EC2 side of image
// push/pull is a stateful aws-sdk-client-mock: each Describe*Tasks call moves the task one
// state on, as VM Import/Export does. S3 is real (moto), and qemu-img really converts.

const BUCKET = 'box-images';

describe('image push/pull (EC2 import/export mocked statefully, S3 on moto, real qemu-img)', () => {
  let moto: Moto;
  let restoreEnv: () => void;
  let s3: S3Client;
  let work: {dir: string; cleanup: () => Promise<void>};
  let home: {dir: string; cleanup: () => Promise<void>};
  const ec2 = mockClient(EC2Client);
  const signal = () => new AbortController().signal;

  before(async () => {
    moto = await startMoto();
    restoreEnv = useMotoEnv(moto);
    s3 = new S3Client({region: 'us-east-1', forcePathStyle: true});
  });
  after(async () => {
    ec2.restore();
    restoreEnv?.();
    await moto?.stop();
  });
  beforeEach(async () => {
    await moto.reset();
    ec2.reset();
    await s3.send(new CreateBucketCommand({Bucket: BUCKET}));
    work = await tempDir('box-image-');
    home = await tempDir('box-image-home-');
    process.env.BOX_HOME = home.dir;
  });
  afterEach(async () => {
    delete process.env.BOX_HOME;
    await work.cleanup();
    await home.cleanup();
  });

  async function storeLibvirtBox(name: string, version: string): Promise<void> {
    const img = path.join(work.dir, 'disk.qcow2');
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', img, '64M']);
    const out = await packageLibvirtBox({imagePath: img, outputPath: path.join(work.dir, 'in.box')});
    await addBox({source: out.path, name, version, provider: 'libvirt', ui: silentUi(), signal: signal()});
  }
  const objects = async () => ((await s3.send(new ListObjectsV2Command({Bucket: BUCKET}))).Contents ?? []).map((o) => o.Key);

  /** VM Import as a state machine: pending → converting → updating → booting → completed (or deleted). */
  function importTask(final: {ImageId?: string; failWith?: string}) {
    const states = [
      {Status: 'active', StatusMessage: 'pending', Progress: '2'},
      {Status: 'active', StatusMessage: 'converting', Progress: '28'},
      {Status: 'active', StatusMessage: 'updating', Progress: '60'},
      {Status: 'active', StatusMessage: 'booting', Progress: '85'},
      final.failWith ? {Status: 'deleted', StatusMessage: final.failWith} : {Status: 'completed', ImageId: final.ImageId},
    ];
    let step = 0;
    let cancelled = false;
    ec2.on(ImportImageCommand).resolves({ImportTaskId: 'import-ami-0abc', Status: 'active', Progress: '0'});
    ec2.on(DescribeImportImageTasksCommand).callsFake(async () => ({ImportImageTasks: [{ImportTaskId: 'import-ami-0abc', ...(cancelled ? {Status: 'deleted', StatusMessage: 'cancelled'} : states[Math.min(step++, states.length - 1)])}]}));
    ec2.on(CancelImportTaskCommand).callsFake(async () => { cancelled = true; return {ImportTaskId: 'import-ami-0abc', State: 'deleting'}; });
    ec2.on(CreateTagsCommand).resolves({});
    return {steps: () => step, cancelled: () => cancelled};
  }

  test('push converts the box to VMDK, uploads it, follows the import to its AMI, stores an aws box and removes the upload', async () => {
    await storeLibvirtBox('web', '1.0.0');
    const task = importTask({ImageId: 'ami-0feedface0000001'});
    let uploadedKey = '';
    let uploadedFormat = '';
    ec2.on(ImportImageCommand).callsFake(async (input) => {
      uploadedKey = input.DiskContainers[0].UserBucket.S3Key;
      // What VM Import would read: the object must be a real stream-optimized VMDK in the bucket.
      const body = await (await s3.send(new GetObjectCommand({Bucket: BUCKET, Key: uploadedKey}))).Body!.transformToByteArray();
      uploadedFormat = Buffer.from(body.subarray(0, 4)).toString('latin1');
      return {ImportTaskId: 'import-ami-0abc', Status: 'active'};
    });
    const result = await pushImage({name: 'web', bucket: BUCKET, ui: silentUi(), signal: signal(), pollSeconds: 0.01});
    assert.equal(result.ami, 'ami-0feedface0000001');
    assert.equal(result.region, 'us-east-1');
    assert.match(uploadedKey, /^box\/web-1\.0\.0-\d+\.vmdk$/);
    assert.equal(uploadedFormat, 'KDMV', 'the upload is a VMDK (sparse extent magic)');
    assert.equal(ec2.commandCalls(ImportImageCommand)[0].args[0].input.DiskContainers?.[0]?.Format, 'VMDK');
    assert.equal(task.steps(), 5, 'the task was polled through every state');
    const tagCall = ec2.commandCalls(CreateTagsCommand)[0].args[0].input;
    assert.deepEqual(tagCall.Resources, ['ami-0feedface0000001']);
    assert.deepEqual(await objects(), [], 'the upload is removed after the import');
    const awsBox = await findStoredBox('web', {provider: 'aws'});
    assert.ok(awsBox, 'an aws box of the same name is in the store');
    assert.equal(awsBox.version, '1.0.0');
    const metadata = JSON.parse(await readFile(path.join(awsBox.dir, 'metadata.json'), 'utf8'));
    assert.deepEqual(metadata.amis, {'us-east-1': 'ami-0feedface0000001'});
    assert.deepEqual(await readdir(path.join(home.dir, 'transfers', 'aws')), [], 'a finished push leaves no transfer record');
  });

  test('a push killed before its cleanup leaves a record, and sweep deletes its upload and cancels its import task', async () => {
    const dead = spawnSync('true').pid!; // a pid that no longer runs
    const key = 'box/web-1.0.0-1.vmdk';
    await s3.send(new PutObjectCommand({Bucket: BUCKET, Key: key, Body: 'half an upload'}));
    await writeTransferRecord({id: 'push-crashed', pid: dead, kind: 'push', region: 'us-east-1', bucket: BUCKET, key, importTaskId: 'import-ami-0dead', startedAt: new Date().toISOString()});
    for (const command of [DescribeInstancesCommand, DescribeAddressesCommand, DescribeSecurityGroupsCommand, DescribeKeyPairsCommand, DescribeImagesCommand, DescribeSnapshotsCommand]) ec2.on(command as never).resolves({});
    ec2.on(CancelImportTaskCommand).resolves({});
    const dry = await sweep({dryRun: true, allHosts: false, ui: silentUi(), signal: signal()});
    assert.deepEqual(dry.resources.map((r) => `${r.type} ${r.id}`), ['import-task import-ami-0dead', `s3-object s3://${BUCKET}/${key}`]);
    assert.deepEqual(await objects(), [key], 'a dry run changes nothing');
    const done = await sweep({dryRun: false, allHosts: false, ui: silentUi(), signal: signal()});
    assert.ok(done.resources.every((r) => r.removed), JSON.stringify(done.resources));
    assert.equal(ec2.commandCalls(CancelImportTaskCommand)[0].args[0].input.ImportTaskId, 'import-ami-0dead');
    assert.deepEqual(await objects(), []);
    assert.deepEqual(await readdir(path.join(home.dir, 'transfers', 'aws')), [], 'the record goes with what it recorded');
  });

  test('a failed import reports VM Import\'s reason and removes the upload', async () => {
    await storeLibvirtBox('web', '1.0.0');
    importTask({failWith: 'ClientError: Unknown OS / Missing OS files.'});
    await assert.rejects(pushImage({name: 'web', bucket: BUCKET, ui: silentUi(), signal: signal(), pollSeconds: 0.01}),
      (e: BoxError) => e.code === 'ERR_AWS_IMPORT' && e.message.includes('Unknown OS / Missing OS files') && /vmimport/.test(e.hint ?? ''));
    assert.deepEqual(await objects(), []);
    assert.equal(await findStoredBox('web', {provider: 'aws'}), undefined);
  });

  test('Ctrl-C while the import runs cancels the task and removes the upload', async () => {
    await storeLibvirtBox('web', '1.0.0');
    const task = importTask({ImageId: 'ami-0feedface0000001'});
    const controller = new AbortController();
    ec2.on(DescribeImportImageTasksCommand).callsFake(async () => {
      controller.abort();
      return {ImportImageTasks: [{ImportTaskId: 'import-ami-0abc', Status: 'active', StatusMessage: 'converting', Progress: '20'}]};
    });
    await assert.rejects(pushImage({name: 'web', bucket: BUCKET, ui: silentUi(), signal: controller.signal, pollSeconds: 0.01}), (e: BoxError) => e.code === 'ERR_INTERRUPTED');
    assert.equal(task.cancelled(), true);
    assert.deepEqual(await objects(), []);
  });

  test('push of a box that is not in the store names it and changes nothing', async () => {
    await assert.rejects(pushImage({name: 'nope', bucket: BUCKET, ui: silentUi(), signal: signal()}), (e: BoxError) => e.code === 'ERR_BOX_NOT_FOUND' && e.message.includes('"nope"'));
    assert.equal(ec2.commandCalls(ImportImageCommand).length, 0);
  });

  test('pull exports the AMI, downloads and converts it into a qcow2 libvirt box in the store, and removes the export', async () => {
    // What VM Export would write: a stream-optimized VMDK of a 48 MiB disk holding a marker.
    const src = path.join(work.dir, 'src.raw');
    await run('qemu-img', ['create', '-q', '-f', 'raw', src, '48M']);
    await run('sh', ['-c', `printf 'box-export-marker' | dd of=${src} bs=1 seek=1048576 conv=notrunc status=none`]);
    const vmdk = path.join(work.dir, 'export.vmdk');
    await run('qemu-img', ['convert', '-O', 'vmdk', '-o', 'subformat=streamOptimized', src, vmdk]);
    const states = ['active', 'active', 'completed'];
    let step = 0;
    ec2.on(ExportImageCommand).resolves({ExportImageTaskId: 'export-ami-0123', Status: 'active'});
    ec2.on(DescribeExportImageTasksCommand).callsFake(async () => {
      const Status = states[Math.min(step++, states.length - 1)];
      if (Status === 'completed') await s3.send(new PutObjectCommand({Bucket: BUCKET, Key: 'box/export-ami-0123.vmdk', Body: await readFile(vmdk)}));
      return {ExportImageTasks: [{ExportImageTaskId: 'export-ami-0123', Status, Progress: String(step * 30)}]};
    });
    ec2.on(CancelExportTaskCommand).resolves({});
    const result = await pullImage({ami: 'ami-0123456789abcdef0', bucket: BUCKET, name: 'from-cloud', version: '2.0.0', add: true, outputDir: path.join(work.dir, 'out'), ui: silentUi(), signal: signal(), pollSeconds: 0.01});
    const input = ec2.commandCalls(ExportImageCommand)[0].args[0].input;
    assert.equal(input.DiskImageFormat, 'VMDK');
    assert.deepEqual(input.S3ExportLocation, {S3Bucket: BUCKET, S3Prefix: 'box/'});
    assert.equal(result.key, 'box/export-ami-0123.vmdk');
    assert.equal(ec2.commandCalls(CancelExportTaskCommand).length, 0);
    const stored = await findStoredBox('from-cloud', {provider: 'libvirt'});
    assert.ok(stored);
    const info = JSON.parse(await run('qemu-img', ['info', '--output=json', path.join(stored.dir, 'box.img')]));
    assert.equal(info.format, 'qcow2');
    assert.equal(info['virtual-size'], 48 * 1024 * 1024);
    const raw = path.join(work.dir, 'back.raw');
    await run('qemu-img', ['convert', '-O', 'raw', path.join(stored.dir, 'box.img'), raw]);
    const back = await readFile(raw);
    assert.equal(back.subarray(1048576, 1048576 + 17).toString(), 'box-export-marker', 'the disk content survived the round trip');
    const metadata = JSON.parse(await readFile(path.join(stored.dir, 'metadata.json'), 'utf8'));
    assert.equal(metadata.provider, 'libvirt');
    assert.equal(metadata.format, 'qcow2');
    assert.deepEqual(await objects(), []);
    assert.deepEqual(await readdir(path.join(home.dir, 'transfers', 'aws')), [], 'a finished pull leaves no transfer record');
  });

  test('a failed export reports the reason', async () => {
    ec2.on(ExportImageCommand).resolves({ExportImageTaskId: 'export-ami-0bad', Status: 'active'});
    ec2.on(DescribeExportImageTasksCommand).resolves({ExportImageTasks: [{ExportImageTaskId: 'export-ami-0bad', Status: 'deleted', StatusMessage: 'This AMI was created from an AWS Marketplace product'}]});
    ec2.on(CancelExportTaskCommand).resolves({});
    await assert.rejects(pullImage({ami: 'ami-0123456789abcdef0', bucket: BUCKET, add: false, outputDir: path.join(work.dir, 'out'), ui: silentUi(), signal: signal(), pollSeconds: 0.01}),
      (e: BoxError) => e.code === 'ERR_AWS_EXPORT' && e.message.includes('Marketplace'));
  });

  const transferRecords = async () => Promise.all((await readdir(path.join(home.dir, 'transfers', 'aws')).catch(() => [] as string[]))
    .map(async (f) => JSON.parse(await readFile(path.join(home.dir, 'transfers', 'aws', f), 'utf8'))));
  const sweepDescribesNothing = () => {
    for (const command of [DescribeInstancesCommand, DescribeAddressesCommand, DescribeSecurityGroupsCommand, DescribeKeyPairsCommand, DescribeImagesCommand, DescribeSnapshotsCommand]) ec2.on(command as never).resolves({});
  };

  test('push records the ImportImage intent (its client token) before the call, and tags the task with the record', async () => {
    await storeLibvirtBox('web', '1.0.0');
    importTask({ImageId: 'ami-0feedface0000001'});
    let before: Array<Record<string, unknown>> = [];
    ec2.on(ImportImageCommand).callsFake(async () => {
      before = await transferRecords();
      return {ImportTaskId: 'import-ami-0abc', Status: 'active'};
    });
    await pushImage({name: 'web', bucket: BUCKET, ui: silentUi(), signal: signal(), pollSeconds: 0.01});
    const input = ec2.commandCalls(ImportImageCommand)[0].args[0].input;
    assert.match(input.ClientToken ?? '', /^box-/);
    assert.equal(before.length, 1);
    assert.equal(before[0].clientToken, input.ClientToken, 'the token was on disk before ImportImage was sent');
    assert.equal(before[0].importTaskId, undefined);
    assert.deepEqual(input.TagSpecifications?.[0]?.Tags?.find((t) => t.Key === 'box:transfer')?.Value, before[0].id);
  });

  test('a push whose ImportImage answer is lost finds the task it started by its tag and cancels it', async () => {
    await storeLibvirtBox('web', '1.0.0');
    let started: {ImportTaskId: string; Status: string; Tags: Array<{Key?: string; Value?: string}>} | undefined;
    ec2.on(ImportImageCommand).callsFake(async (input) => {
      // VM Import started the task, then the connection dropped before the answer came back.
      started = {ImportTaskId: 'import-ami-0lost', Status: 'active', Tags: input.TagSpecifications[0].Tags};
      throw Object.assign(new Error('socket hang up'), {code: 'ECONNRESET'});
    });
    ec2.on(DescribeImportImageTasksCommand).callsFake(async () => ({ImportImageTasks: [{ImportTaskId: 'import-ami-0other', Status: 'active', Tags: [{Key: 'box:transfer', Value: 'push-someone-else'}]}, ...(started ? [started] : [])]}));
    ec2.on(CancelImportTaskCommand).resolves({});
    await assert.rejects(pushImage({name: 'web', bucket: BUCKET, ui: silentUi(), signal: signal(), pollSeconds: 0.01}), (e: BoxError) => e.code === 'ERR_AWS_UNREACHABLE');
    assert.deepEqual(ec2.commandCalls(CancelImportTaskCommand).map((c) => c.args[0].input.ImportTaskId), ['import-ami-0lost']);
    assert.deepEqual(await objects(), []);
    assert.deepEqual(await transferRecords(), [], 'everything it started is gone, and so is its record');
  });

  test('sweep cancels the import task of a push killed during ImportImage, found by the record\'s tag (only the intent was recorded)', async () => {
    const dead = spawnSync('true').pid!;
    const key = 'box/web-1.0.0-2.vmdk';
    await s3.send(new PutObjectCommand({Bucket: BUCKET, Key: key, Body: 'the upload'}));
    await writeTransferRecord({id: 'push-killed', pid: dead, kind: 'push', region: 'us-east-1', bucket: BUCKET, key, clientToken: 'box-token', startedAt: new Date().toISOString()});
    sweepDescribesNothing();
    ec2.on(DescribeImportImageTasksCommand).resolves({ImportImageTasks: [
      {ImportTaskId: 'import-ami-0other', Status: 'active', Tags: [{Key: 'box:transfer', Value: 'push-alive'}]},
      {ImportTaskId: 'import-ami-0killed', Status: 'active', Tags: [{Key: 'box:transfer', Value: 'push-killed'}]},
    ]});
    ec2.on(CancelImportTaskCommand).resolves({});
    const dry = await sweep({dryRun: true, allHosts: false, ui: silentUi(), signal: signal()});
    assert.deepEqual(dry.resources.map((r) => `${r.type} ${r.id}`), ['import-task import-ami-0killed', `s3-object s3://${BUCKET}/${key}`]);
    const done = await sweep({dryRun: false, allHosts: false, ui: silentUi(), signal: signal()});
    assert.ok(done.resources.every((r) => r.removed), JSON.stringify(done.resources));
    assert.deepEqual(ec2.commandCalls(CancelImportTaskCommand).map((c) => c.args[0].input.ImportTaskId), ['import-ami-0killed']);
    assert.deepEqual(await objects(), []);
    assert.deepEqual(await transferRecords(), []);
  });

  test('when the task of a killed push cannot be looked for, sweep still deletes its upload, reports the task and keeps the record', async () => {
    const dead = spawnSync('true').pid!;
    const key = 'box/web-1.0.0-3.vmdk';
    await s3.send(new PutObjectCommand({Bucket: BUCKET, Key: key, Body: 'the upload'}));
    await writeTransferRecord({id: 'push-unknown', pid: dead, kind: 'push', region: 'us-east-1', bucket: BUCKET, key, clientToken: 'box-token', startedAt: new Date().toISOString()});
    sweepDescribesNothing();
    ec2.on(DescribeImportImageTasksCommand).rejects(Object.assign(new Error('UnauthorizedOperation'), {name: 'UnauthorizedOperation', $fault: 'client'}));
    const done = await sweep({dryRun: false, allHosts: false, ui: silentUi(), signal: signal()});
    assert.deepEqual(done.resources.map((r) => `${r.type} ${r.id} ${r.removed}`), ['import-task (task of push-unknown) false', `s3-object s3://${BUCKET}/${key} true`]);
    assert.match(done.resources[0].error ?? '', /could not look for the task/);
    assert.deepEqual(await objects(), []);
    assert.deepEqual((await transferRecords()).map((r) => r.id), ['push-unknown'], 'the record stays for the next sweep');
  });

  test('sweep cancels the export task of a pull killed during ExportImage and deletes what it wrote', async () => {
    const dead = spawnSync('true').pid!;
    await writeTransferRecord({id: 'pull-killed', pid: dead, kind: 'pull', region: 'us-east-1', bucket: BUCKET, prefix: 'box/', clientToken: 'box-token', startedAt: new Date().toISOString()});
    await s3.send(new PutObjectCommand({Bucket: BUCKET, Key: 'box/export-ami-0killed.vmdk', Body: 'exported'}));
    sweepDescribesNothing();
    ec2.on(DescribeExportImageTasksCommand).resolves({ExportImageTasks: [{ExportImageTaskId: 'export-ami-0killed', Status: 'active', Tags: [{Key: 'box:transfer', Value: 'pull-killed'}]}]});
    ec2.on(CancelExportTaskCommand).resolves({});
    const done = await sweep({dryRun: false, allHosts: false, ui: silentUi(), signal: signal()});
    assert.deepEqual(done.resources.map((r) => `${r.type} ${r.id} ${r.removed}`), ['export-task export-ami-0killed true', `s3-object s3://${BUCKET}/box/export-ami-0killed.vmdk true`]);
    assert.deepEqual(await objects(), []);
    assert.deepEqual(await transferRecords(), []);
  });

  test('a pull whose ExportImage answer is lost finds the task it started by its tag and cancels it', async () => {
    let started: {ExportImageTaskId: string; Status: string; Tags: Array<{Key?: string; Value?: string}>} | undefined;
    ec2.on(ExportImageCommand).callsFake(async (input) => {
      started = {ExportImageTaskId: 'export-ami-0lost', Status: 'active', Tags: input.TagSpecifications[0].Tags};
      throw Object.assign(new Error('socket hang up'), {code: 'ECONNRESET'});
    });
    ec2.on(DescribeExportImageTasksCommand).callsFake(async () => ({ExportImageTasks: started ? [started] : []}));
    ec2.on(CancelExportTaskCommand).resolves({});
    await assert.rejects(pullImage({ami: 'ami-0123456789abcdef0', bucket: BUCKET, add: false, outputDir: path.join(work.dir, 'out'), ui: silentUi(), signal: signal(), pollSeconds: 0.01}), (e: BoxError) => e.code === 'ERR_AWS_UNREACHABLE');
    assert.deepEqual(ec2.commandCalls(CancelExportTaskCommand).map((c) => c.args[0].input.ExportTaskId), ['export-ami-0lost']);
    assert.deepEqual(await transferRecords(), []);
  });

  test('pull records the ExportImage intent before the call and tags the task with the record', async () => {
    let before: Array<Record<string, unknown>> = [];
    ec2.on(ExportImageCommand).callsFake(async () => {
      before = await transferRecords();
      return {ExportImageTaskId: 'export-ami-0bad', Status: 'active'};
    });
    ec2.on(DescribeExportImageTasksCommand).resolves({ExportImageTasks: [{ExportImageTaskId: 'export-ami-0bad', Status: 'deleted', StatusMessage: 'failed on purpose'}]});
    ec2.on(CancelExportTaskCommand).resolves({});
    await assert.rejects(pullImage({ami: 'ami-0123456789abcdef0', bucket: BUCKET, add: false, outputDir: path.join(work.dir, 'out'), ui: silentUi(), signal: signal(), pollSeconds: 0.01}));
    const input = ec2.commandCalls(ExportImageCommand)[0].args[0].input;
    assert.equal(before.length, 1);
    assert.equal(before[0].clientToken, input.ClientToken);
    assert.equal(input.TagSpecifications?.[0]?.Tags?.find((t) => t.Key === 'box:transfer')?.Value, before[0].id);
  });
});

