import {afterEach, beforeEach, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {existsSync} from 'node:fs';
import {mkdir, readdir, readFile, rm, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {DescribeAddressesCommand, DescribeImagesCommand, DescribeInstanceAttributeCommand, DescribeInstancesCommand, DescribeKeyPairsCommand, DescribeSecurityGroupsCommand} from '@aws-sdk/client-ec2';
import {awsBoxfile} from '../helpers/aws-boxfile.js';
import {box, boxJson} from '../helpers/cli.js';
import {DUMMY_ACCESS_KEY, DUMMY_SECRET} from '../helpers/moto.js';
import {motoSuite} from '../providers/aws/moto-suite.js';
import {startFaultProxy} from '../providers/aws/fault-proxy.js';
import {fakeSshEnv} from '../helpers/fake-ssh.js';

// The CLI against the moto EC2 emulator. moto instances have no SSH server, so these runs load
// the fake SSH preload (fakeSshEnv): "SSH ready" and the provisioners' commands are recorded in
// .box/machines/<name>/fake-ssh.log instead of reaching a guest (see docs/aws.md).
const BOXFILE = awsBoxfile('cli-demo', `    block_device_mappings:
      - {device_name: /dev/sdb, volume_size: 4, volume_type: gp3}
provisioners:
  - type: shell
    inline: echo provisioned > /etc/box-provisioned
`);

describe('box CLI with the aws target against moto', () => {
  const suite = motoSuite({prefix: 'box-aws-cli', boxfile: BOXFILE});
  let env: Record<string, string>;
  beforeEach(() => {
    env = {...suite.moto.env, ...fakeSshEnv()};
  });
  afterEach(async () => {
    // Whatever a failed test left: destroy through the CLI (moto is reset before the next test anyway).
    await box(['destroy', '--force'], {cwd: suite.work, boxHome: suite.home, env}).catch(() => undefined);
  });

  const run = (args: string[], extraEnv: Record<string, string> = {}) => box(args, {cwd: suite.work, boxHome: suite.home, env: {...env, ...extraEnv}});
  const runJson = <T = any>(args: string[]) => boxJson<T>(args, {cwd: suite.work, boxHome: suite.home, env});
  const live = async () => (await suite.ec2.send(new DescribeInstancesCommand({Filters: [{Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped']}]}))).Reservations?.flatMap((r) => r.Instances ?? []) ?? [];
  const noSecrets = (text: string) => {
    assert.ok(!text.includes(DUMMY_SECRET), 'the secret key never appears');
    assert.ok(!text.includes(DUMMY_ACCESS_KEY), 'the access key id never appears');
  };

  test('up, status, halt, up, ssh-config and destroy work end to end and provision over the (fake) communicator', async () => {
    const outputs: string[] = [];
    const up = await runJson(['up']);
    outputs.push(String(up.result.stdout), String(up.result.stderr));
    assert.equal(up.result.exitCode, 0, String(up.result.stderr));
    assert.equal(up.json.machines[0].created, true);
    assert.equal(up.json.machines[0].ranProvisioners, true);
    const [instance] = await live();
    assert.equal(instance.InstanceType, 't3.small');
    assert.equal(up.json.machines[0].ssh.host, instance.PublicIpAddress);

    const log = (await readFile(path.join(suite.work, '.box/machines/default/fake-ssh.log'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    assert.ok(log.some((e) => e.op === 'exec' && e.sudo === true && e.host === instance.PublicIpAddress && e.username === 'ubuntu'), 'the provisioner ran as ubuntu on the public address');
    assert.ok(log.some((e) => e.op === 'upload'), 'the inline script was uploaded');

    const status = await runJson(['status']);
    assert.equal(status.json.machines[0].status, 'running');
    const halt = await run(['halt']);
    assert.equal(halt.exitCode, 0, String(halt.stderr));
    assert.equal((await runJson(['status'])).json.machines[0].status, 'stopped');
    const again = await runJson(['up']);
    assert.equal(again.json.machines[0].created, false);
    assert.equal(again.json.machines[0].ranProvisioners, false, 'provisioners run on first up only');
    assert.equal((await live()).length, 1);

    const sshConfig = await run(['ssh-config']);
    assert.match(String(sshConfig.stdout), new RegExp(`HostName ${(await live())[0].PublicIpAddress!.replaceAll('.', '\\.')}`));
    assert.match(String(sshConfig.stdout), /User ubuntu/);

    const destroy = await run(['destroy', '--force']);
    outputs.push(String(destroy.stdout), String(destroy.stderr), String(halt.stdout), String(halt.stderr));
    assert.equal(destroy.exitCode, 0, String(destroy.stderr));
    assert.equal((await live()).length, 0);
    assert.deepEqual(((await suite.ec2.send(new DescribeKeyPairsCommand({}))).KeyPairs ?? []).length, 0);
    assert.deepEqual(((await suite.ec2.send(new DescribeSecurityGroupsCommand({}))).SecurityGroups ?? []).filter((g) => g.GroupName !== 'default'), []);
    assert.equal(existsSync(path.join(suite.work, '.box/machines/default')), false);
    noSecrets(outputs.join('\n'));
  });

  test('hostname is set in an aws guest over its communicator, on the first up only', async () => {
    await writeFile(path.join(suite.work, 'Boxfile'), `${BOXFILE}hostname: api-1.example.test\n`);
    const up = await runJson(['up']);
    assert.equal(up.result.exitCode, 0, String(up.result.stderr));
    const setters = async () => (await readFile(path.join(suite.work, '.box/machines/default/fake-ssh.log'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l))
      .filter((e) => e.op === 'exec' && String(e.command).includes('hostnamectl set-hostname'));
    const [first] = await setters();
    assert.ok(first, 'the host name was set');
    assert.match(first.command, / sh api-1\.example\.test$/);
    assert.equal(first.username, 'ubuntu');
    assert.equal(typeof up.json.machines[0].timings.hostname, 'number');
    assert.equal((await run(['halt'])).exitCode, 0);
    assert.equal((await run(['up'])).exitCode, 0);
    assert.equal((await setters()).length, 1, 'not set again while the Boxfile keeps it');
  });

  test('ip allocate --associate, list and release manage the machine\'s Elastic IP, and destroy releases leftovers', async () => {
    assert.equal((await run(['up'])).exitCode, 0);
    const allocated = await runJson(['ip', 'allocate', '--associate']);
    assert.equal(allocated.result.exitCode, 0, String(allocated.result.stderr));
    const [address] = allocated.json.addresses;
    assert.match(address.allocationId, /^eipalloc-/);
    assert.equal(address.instanceId, (await live())[0].InstanceId);
    const listed = await runJson(['ip', 'list']);
    assert.deepEqual(listed.json.addresses.map((a: {allocationId: string}) => a.allocationId), [address.allocationId]);
    const released = await runJson(['ip', 'release']);
    assert.deepEqual(released.json.addresses, []);
    // A second one is left for destroy to release.
    await runJson(['ip', 'allocate']);
    assert.equal((await run(['destroy', '--force'])).exitCode, 0);
    const {Addresses} = await suite.ec2.send(new DescribeAddressesCommand({}));
    assert.deepEqual(Addresses ?? [], []);
  });

  test('sweep lists then removes an instance, Elastic IP, key pair and group that no project state knows', async () => {
    assert.equal((await run(['up'])).exitCode, 0);
    assert.equal((await run(['ip', 'allocate', '--associate'])).exitCode, 0);
    // A crash that lost the project's state: the cloud side is now an orphan.
    await rm(path.join(suite.work, '.box'), {recursive: true, force: true});
    const dry = await runJson(['sweep', '--dry-run']);
    assert.equal(dry.result.exitCode, 0, String(dry.result.stderr));
    assert.deepEqual(dry.json.resources.map((r: {type: string}) => r.type).sort(), ['elastic-ip', 'instance', 'key-pair', 'security-group']);
    assert.ok(dry.json.resources.every((r: {reason: string; project: string}) => /has no box state/.test(r.reason) && r.project === 'cli-demo'));
    assert.equal((await live()).length, 1, 'a dry run removes nothing');
    const swept = await runJson(['sweep']);
    assert.ok(swept.json.resources.every((r: {removed: boolean}) => r.removed));
    assert.equal((await live()).length, 0);
    assert.equal(((await suite.ec2.send(new DescribeKeyPairsCommand({}))).KeyPairs ?? []).length, 0);
    assert.deepEqual((await suite.ec2.send(new DescribeAddressesCommand({}))).Addresses ?? [], []);
    assert.deepEqual((await runJson(['sweep', '--dry-run'])).json.resources, []);
  });

  test('sweep keeps what a project still records', async () => {
    assert.equal((await run(['up'])).exitCode, 0);
    const dry = await runJson(['sweep', '--dry-run']);
    assert.deepEqual(dry.json.resources, []);
  });

  test('box build --target aws bakes an AMI with the Boxfile\'s aws settings and writes an aws box', async () => {
    const tpl = path.join(suite.work, 'tpl');
    await mkdir(tpl);
    await writeFile(path.join(tpl, 'template.yaml'), 'name: cli-bake\nversion: 0.3.0\nmethod: box\nsource: box base\npost_install:\n  - inline: ["touch /etc/baked"]\n');
    const built = await runJson(['build', tpl, '--target', 'aws', '--output', path.join(suite.work, 'out'), '--add']);
    assert.equal(built.result.exitCode, 0, String(built.result.stderr));
    assert.match(built.json.ami, /^ami-/);
    assert.equal(built.json.region, 'us-east-1');
    assert.equal(built.json.added.provider, 'aws');
    assert.equal(path.basename(built.json.box.path), 'cli-bake-0.3.0-aws.box');
    assert.equal((await live()).length, 0, 'the temporary instance is gone');
    assert.equal(((await suite.ec2.send(new DescribeKeyPairsCommand({}))).KeyPairs ?? []).length, 0);
    // The stored box keeps its AMI from being swept.
    assert.deepEqual((await runJson(['sweep', '--dry-run'])).json.resources, []);
  });

  test('box build --target aws sends the machine\'s user_data to the bake\'s instance; meta_data is refused at its line before anything is made', async () => {
    const tpl = path.join(suite.work, 'tpl');
    await mkdir(tpl);
    await writeFile(path.join(tpl, 'template.yaml'), 'name: cli-bake\nversion: 0.3.0\nmethod: box\nsource: box base\npost_install:\n  - inline: ["touch /etc/baked"]\n');
    const userData = '#cloud-config\nwrite_files:\n  - {path: /etc/baked-by-cloud-init, content: yes}\n';
    await writeFile(path.join(suite.work, 'Boxfile'), `${BOXFILE}user_data: ${JSON.stringify(userData)}\n`);
    const built = await runJson(['build', tpl, '--target', 'aws', '--output', path.join(suite.work, 'out')]);
    assert.equal(built.result.exitCode, 0, String(built.result.stderr));
    // moto keeps the terminated bake instance: its user-data is the machine's, byte for byte.
    const [instance] = (await suite.ec2.send(new DescribeInstancesCommand({}))).Reservations?.flatMap((r) => r.Instances ?? []) ?? [];
    const attribute = await suite.ec2.send(new DescribeInstanceAttributeCommand({InstanceId: instance!.InstanceId, Attribute: 'userData'}));
    assert.equal(Buffer.from(attribute.UserData?.Value ?? '', 'base64').toString(), userData);

    await suite.moto.reset();
    await writeFile(path.join(suite.work, 'Boxfile'), `${BOXFILE}cloud_init:\n  meta_data: {region: lab}\n`);
    const refused = await run(['build', tpl, '--target', 'aws', '--output', path.join(suite.work, 'out2')]);
    assert.equal(refused.exitCode, 2, String(refused.stderr));
    assert.match(String(refused.stderr), /Boxfile:\d+:\d+ cloud_init\.meta_data: cloud_init\.meta_data is not supported yet on the aws target/);
    assert.deepEqual((await suite.ec2.send(new DescribeInstancesCommand({}))).Reservations ?? [], []);
  });

  test('box build --target aws --dry-run prints the plan and creates nothing: no instance, AMI, key pair, group, record or work folder', async () => {
    const tpl = path.join(suite.work, 'tpl');
    await mkdir(tpl);
    await writeFile(path.join(tpl, 'template.yaml'), 'name: cli-bake\nversion: 0.3.0\nmethod: box\nsource: box base\npost_install:\n  - inline: ["touch /etc/baked"]\n');
    const tmp = path.join(suite.work, 'tmp');
    await mkdir(tmp);
    const planned = await boxJson(['build', tpl, '--target', 'aws', '--dry-run', '--output', path.join(suite.work, 'out')], {cwd: suite.work, boxHome: suite.home, env: {...env, TMPDIR: tmp}});
    assert.equal(planned.result.exitCode, 0, String(planned.result.stderr));
    const plan: string[] = planned.json.dryRun.plan;
    assert.ok(plan.some((l) => l === 'launch t3.small from ami-1e749f67 in us-east-1'), plan.join('\n'));
    assert.ok(plan.some((l) => /^create AMI cli-bake-0\.3\.0-\d{8}T\d{6} /.test(l)), plan.join('\n'));
    assert.ok(plan.some((l) => l.includes('tcp/22 from 198.51.100.7/32')), plan.join('\n'));
    assert.match(String(planned.result.stderr), /launch t3\.small from ami-1e749f67/);
    assert.equal(planned.json.ami, '');
    // Nothing was made, not even for a moment: moto keeps terminated instances and every image.
    assert.deepEqual((await suite.ec2.send(new DescribeInstancesCommand({}))).Reservations ?? [], []);
    assert.deepEqual((await suite.ec2.send(new DescribeImagesCommand({Owners: ['self']}))).Images ?? [], []);
    assert.deepEqual((await suite.ec2.send(new DescribeKeyPairsCommand({}))).KeyPairs ?? [], []);
    assert.deepEqual(((await suite.ec2.send(new DescribeSecurityGroupsCommand({}))).SecurityGroups ?? []).filter((g) => g.GroupName !== 'default'), []);
    assert.deepEqual(await readdir(tmp), [], 'no work folder in the temp dir');
    assert.equal(existsSync(path.join(suite.home, 'bakes')), false, 'no bake record');
    assert.equal(existsSync(path.join(suite.work, 'out')), false, 'no box written');
  });

  test('image push of a box that is not in the store fails with a clear message and --json error', async () => {
    const push = await runJson(['image', 'push', 'no-such-box', '--target', 'aws', '--bucket', 'b']);
    assert.equal(push.result.exitCode, 1);
    assert.equal(push.json.error.code, 'ERR_BOX_NOT_FOUND');
    assert.match(push.json.error.message, /"no-such-box"/);
    const pull = await run(['image', 'pull', 'not-an-ami', '--bucket', 'b']);
    assert.equal(pull.exitCode, 2);
    assert.match(String(pull.stderr), /"not-an-ami" is not an AMI id/);
  });

  test('a Boxfile without ssh_cidr fails with exit 2 and creates nothing', async () => {
    await writeFile(path.join(suite.work, 'Boxfile'), BOXFILE.replace('    ssh_cidr: 198.51.100.7/32\n', ''));
    const up = await run(['up']);
    assert.equal(up.exitCode, 2, String(up.stderr));
    assert.match(String(up.stderr), /ssh_cidr/);
    assert.equal((await live()).length, 0);
  });

  test('an auth failure is reported clearly without printing the credentials, and nothing is left running', async () => {
    const proxy = await startFaultProxy(suite.moto.url, [{action: 'RunInstances', status: 401, code: 'AuthFailure', message: `AWS was not able to validate the provided access credentials (${DUMMY_ACCESS_KEY})`}]);
    try {
      const up = await run(['up'], {AWS_ENDPOINT_URL_EC2: proxy.url});
      assert.equal(up.exitCode, 1);
      assert.match(String(up.stderr), /AWS did not accept the credentials \(AuthFailure\)/);
      noSecrets(String(up.stdout) + String(up.stderr));
      assert.equal((await live()).length, 0);
      assert.equal(((await suite.ec2.send(new DescribeKeyPairsCommand({}))).KeyPairs ?? []).length, 0);
    } finally {
      await proxy.close();
    }
  });
  test('a machine brought up with --target aws in a qemu Boxfile stays on aws for status, halt and destroy', async () => {
    await writeFile(path.join(suite.work, 'Boxfile'), BOXFILE.replace('target: aws', 'target: qemu'));
    const up = await run(['up', '--target', 'aws']);
    assert.equal(up.exitCode, 0, String(up.stderr));
    assert.equal((await live()).length, 1);

    const status = await runJson(['status']);
    assert.equal(status.json.machines[0].target, 'aws');
    assert.equal(status.json.machines[0].status, 'running');
    assert.match(String(status.result.stderr), /using the aws target it was created on/);

    const moved = await run(['halt', '--target', 'qemu']);
    assert.equal(moved.exitCode, 2);
    assert.match(String(moved.stderr), /exists on the aws target/);

    assert.equal((await run(['halt'])).exitCode, 0);
    assert.equal((await live())[0].State?.Name, 'stopped');
    const destroy = await run(['destroy', '--force']);
    assert.equal(destroy.exitCode, 0, String(destroy.stderr));
    assert.equal((await live()).length, 0, 'the instance is terminated, not forgotten');
    assert.deepEqual((await suite.ec2.send(new DescribeKeyPairsCommand({}))).KeyPairs ?? [], []);
  });
  test('ip list without a machine name lists the Elastic IPs of every aws machine of a multi-machine project', async () => {
    await writeFile(path.join(suite.work, 'Boxfile'), `${BOXFILE}machines:\n  web: {}\n  db: {}\n`);
    assert.equal((await run(['up'])).exitCode, 0);
    assert.equal((await run(['ip', 'allocate', 'web'])).exitCode, 0);
    assert.equal((await run(['ip', 'allocate', 'db'])).exitCode, 0);
    const listed = await runJson(['ip', 'list']);
    assert.equal(listed.result.exitCode, 0, String(listed.result.stderr));
    assert.deepEqual(listed.json.addresses.map((a: {machine: string}) => a.machine).sort(), ['db', 'web']);
    const one = await runJson(['ip', 'list', 'db']);
    assert.deepEqual(one.json.addresses.map((a: {machine: string}) => a.machine), ['db']);
    assert.equal((await run(['destroy', '--force'])).exitCode, 0);
  });
});
