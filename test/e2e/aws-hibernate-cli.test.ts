import {afterEach, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {existsSync} from 'node:fs';
import {readFile, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {DescribeInstancesCommand, DescribeVolumesCommand, StartInstancesCommand} from '@aws-sdk/client-ec2';
import {box, boxJson} from '../helpers/cli.js';
import {motoSuite, cloudLeftovers, NOTHING_LEFT} from '../providers/aws/moto-suite.js';
import {awsBoxfile} from '../helpers/aws-boxfile.js';
import {fakeSshEnv} from '../helpers/fake-ssh.js';

// `box suspend` on aws is EC2 hibernation (targets.aws.hibernation). moto 5.2.1 keeps
// HibernationOptions but stops an instance plainly when asked to hibernate; the fault proxy in
// front of it answers DescribeInstances with EC2's hibernation StateReason instead (or leaves
// moto's plain stop, as EC2's fallback, with `proxy.hibernation = 'falls-back'`). These tests
// prove the call flow (the requests box really sends, read at the proxy), what box records and
// what status/up/halt/destroy make of it; real hibernation is not verified.
const HIBERNATING = awsBoxfile('hib-demo', '    hibernation: true\n');

describe('box suspend on aws by hibernation (CLI against moto)', () => {
  const suite = motoSuite({prefix: 'box-aws-hib', boxfile: HIBERNATING});
  afterEach(async () => {
    await box(['destroy', '--force'], {cwd: suite.work, boxHome: suite.home, env: {...suite.moto.env, ...fakeSshEnv()}}).catch(() => undefined);
  });

  const env = () => ({...suite.moto.env, ...fakeSshEnv(), AWS_ENDPOINT_URL_EC2: suite.proxy.url});
  const run = (args: string[]) => box(args, {cwd: suite.work, boxHome: suite.home, env: env()});
  const runJson = (args: string[]) => boxJson(args, {cwd: suite.work, boxHome: suite.home, env: env()});
  const sent = (action: string) => suite.proxy.requests.filter((r) => r.action === action).map((r) => Object.fromEntries(r.params));
  const instance = async () => (await suite.ec2.send(new DescribeInstancesCommand({Filters: [{Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped']}]}))).Reservations?.flatMap((r) => r.Instances ?? [])[0];
  const recorded = async () => JSON.parse(await readFile(path.join(suite.work, '.box/machines/default/state.json'), 'utf8')).provider;
  const status = async () => (await runJson(['status'])).json.machines[0];

  test('up launches with HibernationOptions and an encrypted root of AMI size + RAM; suspend hibernates, status says suspended, up resumes', async () => {
    const up = await runJson(['up']);
    assert.equal(up.result.exitCode, 0, String(up.result.stderr));
    const [launch] = sent('RunInstances');
    assert.equal(launch['HibernationOptions.Configured'], 'true');
    // moto's ami-1e749f67: root /dev/sda1 of 15 GiB; t3.small: 2 GiB of RAM.
    assert.equal(launch['BlockDeviceMapping.1.DeviceName'], '/dev/sda1');
    assert.equal(launch['BlockDeviceMapping.1.Ebs.Encrypted'], 'true');
    assert.equal(launch['BlockDeviceMapping.1.Ebs.VolumeSize'], '17');
    assert.equal(launch['BlockDeviceMapping.1.Ebs.DeleteOnTermination'], 'true');
    const volumes = (await suite.ec2.send(new DescribeVolumesCommand({}))).Volumes ?? [];
    assert.deepEqual(volumes.map((v) => [v.Size, v.Encrypted]), [[17, true]], 'moto made the root volume as asked');
    assert.equal((await recorded()).hibernation, true);

    const suspended = await runJson(['suspend']);
    assert.equal(suspended.result.exitCode, 0, String(suspended.result.stderr));
    assert.deepEqual(suspended.json.machines.map((m: {suspended: boolean; status: string; method: string}) => [m.suspended, m.status, m.method]), [[true, 'suspended', 'hibernate']]);
    const [stop] = sent('StopInstances');
    assert.equal(stop.Hibernate, 'true');
    assert.equal(stop['InstanceId.1'], (await instance())?.InstanceId);
    assert.equal((await instance())?.State?.Name, 'stopped');
    assert.match((await recorded()).hibernated.at, /^\d{4}-\d\d-\d\dT/);
    const shown = await status();
    assert.equal(shown.status, 'suspended');
    assert.equal(shown.details.suspendedAt, (await recorded()).hibernated.at);
    assert.match(String((await run(['status'])).stdout), /suspended.*since/);

    const again = await runJson(['suspend']);
    assert.equal(again.result.exitCode, 0, String(again.result.stderr));
    assert.equal(again.json.machines[0].suspended, false, 'suspended already');
    assert.equal(sent('StopInstances').length, 1, 'no second StopInstances');

    const resumed = await runJson(['up']);
    assert.equal(resumed.result.exitCode, 0, String(resumed.result.stderr));
    assert.equal(resumed.json.machines[0].resumed, true);
    assert.equal(resumed.json.machines[0].created, false);
    assert.equal(sent('StartInstances').length, 1);
    assert.equal((await instance())?.State?.Name, 'running');
    assert.equal((await recorded()).hibernated, undefined);
    assert.equal((await status()).status, 'running');
  });

  test('halt --suspend then resume; halt --force on a suspended machine leaves it plainly stopped; destroy from suspended leaves nothing', async () => {
    assert.equal((await run(['up'])).exitCode, 0);
    const halted = await runJson(['halt', '--suspend']);
    assert.equal(halted.result.exitCode, 0, String(halted.result.stderr));
    assert.equal(sent('StopInstances')[0]?.Hibernate, 'true');
    assert.equal((await status()).status, 'suspended');
    const plainHalt = await run(['halt']);
    assert.equal(plainHalt.exitCode, 0, String(plainHalt.stderr));
    assert.match(String(plainHalt.stderr), /saved state is kept/);
    assert.equal((await status()).status, 'suspended', 'a plain halt keeps the hibernated state');

    const resumed = await runJson(['resume']);
    assert.equal(resumed.result.exitCode, 0, String(resumed.result.stderr));
    assert.equal(resumed.json.machines[0].resumed, true);
    assert.equal((await status()).status, 'running');

    assert.equal((await run(['suspend'])).exitCode, 0);
    suite.proxy.requests.length = 0;
    const forced = await runJson(['halt', '--force']);
    assert.equal(forced.result.exitCode, 0, String(forced.result.stderr));
    assert.equal(forced.json.machines[0].status, 'stopped');
    // EC2 cannot drop a hibernation image: the instance resumes and is force-stopped.
    assert.equal(sent('StartInstances').length, 1);
    assert.deepEqual(sent('StopInstances').map((p) => [p.Force, p.Hibernate]), [['true', undefined]]);
    assert.equal((await recorded()).hibernated, undefined);
    const up = await runJson(['up']);
    assert.equal(up.result.exitCode, 0, String(up.result.stderr));
    assert.equal(up.json.machines[0].resumed, undefined, 'a plain start, not a resume');

    assert.equal((await run(['suspend'])).exitCode, 0);
    const destroyed = await run(['destroy', '--force']);
    assert.equal(destroyed.exitCode, 0, String(destroyed.stderr));
    assert.deepEqual(await cloudLeftovers(suite.ec2), NOTHING_LEFT);
    assert.equal(existsSync(path.join(suite.work, '.box/machines/default')), false);
  });

  test('a snapshot restore on a suspended machine replaces its root volume: it is plainly stopped after, and the next up boots', async () => {
    assert.equal((await run(['up'])).exitCode, 0);
    assert.equal((await run(['snapshot', 'save', 's1'])).exitCode, 0);
    assert.equal((await run(['suspend'])).exitCode, 0);
    const restored = await runJson(['snapshot', 'restore', 's1']);
    assert.equal(restored.result.exitCode, 0, String(restored.result.stderr));
    assert.match(JSON.stringify(restored.json), /its saved RAM went with the replaced root volume/);
    assert.equal((await recorded()).hibernated, undefined);
    assert.equal((await status()).status, 'stopped');
    const up = await runJson(['up']);
    assert.equal(up.result.exitCode, 0, String(up.result.stderr));
    assert.equal(up.json.machines[0].resumed, undefined);
  });

  test('a suspended instance started outside box is running; a box halt of it then is a plain stop, not a suspension', async () => {
    assert.equal((await run(['up'])).exitCode, 0);
    assert.equal((await run(['suspend'])).exitCode, 0);
    await suite.ec2.send(new StartInstancesCommand({InstanceIds: [(await instance())!.InstanceId!]}));
    assert.equal((await status()).status, 'running');
    const halted = await runJson(['halt']);
    assert.equal(halted.result.exitCode, 0, String(halted.result.stderr));
    assert.equal(halted.json.machines[0].status, 'stopped');
    assert.equal((await recorded()).hibernated, undefined);
    const up = await runJson(['up']);
    assert.equal(up.result.exitCode, 0, String(up.result.stderr));
    assert.equal(up.json.machines[0].resumed, undefined, 'a boot, not a resume');
  });

  test('EC2 stops the instance plainly instead of hibernating it: suspend fails and says so, status says stopped, up boots', async () => {
    assert.equal((await run(['up'])).exitCode, 0);
    suite.proxy.hibernation = 'falls-back';
    const suspended = await runJson(['suspend']);
    assert.equal(suspended.result.exitCode, 1, String(suspended.result.stderr));
    assert.equal(suspended.json.error.code, 'ERR_AWS_NOT_HIBERNATED');
    assert.match(suspended.json.error.message, /did not hibernate machine default.*state reason Client\.UserInitiatedShutdown.*RAM was not saved.*next `box up` boots/s);
    assert.equal(sent('StopInstances')[0]?.Hibernate, 'true');
    assert.equal((await instance())?.State?.Name, 'stopped');
    assert.equal((await recorded()).hibernated, undefined, 'no suspension recorded');
    assert.equal((await status()).status, 'stopped');

    // The record a suspend killed after StopInstances leaves: EC2's reason still wins.
    const file = path.join(suite.work, '.box/machines/default/state.json');
    const state = JSON.parse(await readFile(file, 'utf8'));
    state.provider.hibernated = {at: new Date().toISOString()};
    await writeFile(file, JSON.stringify(state));
    const shown = await status();
    assert.equal(shown.status, 'stopped');
    assert.equal(shown.details.notHibernated, 'Client.UserInitiatedShutdown');
    suite.proxy.requests.length = 0;
    const forced = await runJson(['halt', '--force']);
    assert.equal(forced.result.exitCode, 0, String(forced.result.stderr));
    assert.deepEqual(sent('StartInstances'), [], 'no saved state to discard: not started to be force-stopped');
    assert.equal((await recorded()).hibernated, undefined);
    const up = await runJson(['up']);
    assert.equal(up.result.exitCode, 0, String(up.result.stderr));
    assert.equal(up.json.machines[0].resumed, undefined, 'a boot, not a resume');
  });

  test('a machine launched without hibernation: suspend refuses with exit 2, names the key, touches nothing', async () => {
    await writeFile(path.join(suite.work, 'Boxfile'), awsBoxfile('hib-demo'));
    assert.equal((await run(['up'])).exitCode, 0);
    assert.equal(sent('RunInstances')[0]['HibernationOptions.Configured'], undefined);
    suite.proxy.requests.length = 0;
    for (const args of [['suspend'], ['halt', '--suspend']]) {
      const refused = await run(args);
      assert.equal(refused.exitCode, 2, String(refused.stderr));
      assert.match(String(refused.stderr), /launched without hibernation.*nothing was changed/s);
      assert.match(String(refused.stderr), /targets\.aws\.hibernation: true.*at launch only/s);
    }
    assert.deepEqual(suite.proxy.requests.filter((r) => !r.action.startsWith('Describe')), [], 'only looked');
    assert.equal((await instance())?.State?.Name, 'running');
    assert.equal((await recorded()).hibernated, undefined);
  });

  test('prerequisites EC2 would refuse are refused before anything is made', async () => {
    const cases: Array<[string, RegExp]> = [
      ['    instance_type: a1.medium\n', /instance type a1\.medium cannot hibernate/],
      ['    block_device_mappings:\n      - {device_name: /dev/sda1, volume_size: 16}\n', /\/dev\/sda1, the root device\) is 16 GiB.*at least 17 GiB/s],
      ['    block_device_mappings:\n      - {device_name: /dev/sda1, volume_size: 30, encrypted: false}\n', /sets encrypted: false/],
    ];
    for (const [extra, message] of cases) {
      await writeFile(path.join(suite.work, 'Boxfile'), awsBoxfile('hib-demo', `    hibernation: true\n${extra}`).replace('    instance_type: t3.small\n', extra.includes('instance_type') ? '' : '    instance_type: t3.small\n'));
      const up = await run(['up']);
      assert.equal(up.exitCode, 2, String(up.stderr));
      assert.match(String(up.stderr), message);
      assert.match(String(up.stderr), /nothing was created/);
    }
    assert.deepEqual(sent('RunInstances'), []);
    assert.deepEqual(await cloudLeftovers(suite.ec2), NOTHING_LEFT);
    assert.equal(existsSync(path.join(suite.work, '.box/machines/default')), false);
  });

  test('a root mapping large enough is kept, encrypted; other volumes follow it', async () => {
    await writeFile(path.join(suite.work, 'Boxfile'), awsBoxfile('hib-demo', '    hibernation: true\n    block_device_mappings:\n      - {device_name: /dev/sdb, volume_size: 4}\n      - {device_name: /dev/sda1, volume_size: 40, volume_type: gp3}\n'));
    const up = await run(['up']);
    assert.equal(up.exitCode, 0, String(up.stderr));
    const [launch] = sent('RunInstances');
    assert.equal(launch['BlockDeviceMapping.1.DeviceName'], '/dev/sda1');
    assert.equal(launch['BlockDeviceMapping.1.Ebs.VolumeSize'], '40');
    assert.equal(launch['BlockDeviceMapping.1.Ebs.VolumeType'], 'gp3');
    assert.equal(launch['BlockDeviceMapping.1.Ebs.Encrypted'], 'true');
    assert.equal(launch['BlockDeviceMapping.2.DeviceName'], '/dev/sdb');
    assert.equal(launch['BlockDeviceMapping.2.Ebs.Encrypted'], undefined);
  });
});
