import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {existsSync} from 'node:fs';
import {readFile, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {execa} from 'execa';
import {DescribeInstancesCommand} from '@aws-sdk/client-ec2';
import {awsBoxfile} from '../helpers/aws-boxfile.js';
import {box, boxBin, boxJson} from '../helpers/cli.js';
import {fakeSshEnv} from '../helpers/fake-ssh.js';
import {preloadEnv} from '../helpers/preload.js';
import {preload as stageFault} from '../faults/harness.js';
import {cloudLeftovers, motoSuite, NOTHING_LEFT} from '../providers/aws/moto-suite.js';

// `box ci --target aws` against the moto EC2 emulator: a throwaway instance per job, tagged and
// named as the job's instance, destroyed after it (or kept, and reached with --instance), and
// destroyed when the runner cancels the job. moto instances have no SSH server, so the guest
// is the fake communicator (fake-ssh.log in the machine's folder); real guests run the same
// command in test/e2e/ci.e2e.test.ts.
describe('box ci on the aws target against moto', () => {
  const suite = motoSuite({prefix: 'box-ci-aws', boxfile: `${awsBoxfile('cijob')}tests:\n  - make test\nartifacts: [out/junit.xml]\n`});
  const env = (viaProxy = false) => ({...suite.moto.env, ...fakeSshEnv(), ...(viaProxy ? {AWS_ENDPOINT_URL_EC2: suite.proxy.url} : {})});
  const live = async () => ((await suite.ec2.send(new DescribeInstancesCommand({Filters: [{Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped']}]}))).Reservations ?? []).flatMap((r) => r.Instances ?? []);

  test('a job makes its own tagged EC2 instance, runs the tests there, and destroys it; a kept one is reached with --instance', async () => {
    const kept = await boxJson(['ci', '--target', 'aws', '--destroy', 'never'], {cwd: suite.work, boxHome: suite.home, env: {...env(), GITHUB_RUN_ID: '42', GITHUB_RUN_ATTEMPT: '1', GITHUB_JOB: 'test'}});
    assert.equal(kept.result.exitCode, 0, String(kept.result.stderr));
    assert.equal(kept.json.instance, 'gh-42-1-test');
    assert.equal(kept.json.destroyed, false);
    assert.equal(kept.json.destroyCommand, 'box destroy --instance gh-42-1-test --force');
    assert.match(String(kept.result.stderr), /remove them with: box destroy --instance gh-42-1-test --force/);
    const [instance] = await live();
    const tag = (key: string) => instance?.Tags?.find((t) => t.Key === key)?.Value;
    const root = path.join(suite.work, '.box', 'instances', 'gh-42-1-test');
    assert.equal(tag('box:root'), root, 'tagged with the instance\'s root');
    assert.equal(tag('box:project'), 'cijob-gh-42-1-test');
    assert.match(tag('Name') ?? '', /^box-cijob-gh-42-1-test-default/);
    const log = (await readFile(path.join(root, '.box', 'machines', 'default', 'fake-ssh.log'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    assert.ok(log.some((e) => e.op === 'exec' && /\/tmp\/box-ci-[0-9a-f]+\.sh/.test(e.command) && e.sudo === false && e.host === instance!.PublicIpAddress), 'the test ran as ubuntu on the instance');
    assert.ok(log.some((e) => e.op === 'exec' && e.sudo === true && String(e.command).includes('out/junit.xml')), 'the artifacts were asked for');

    const status = await boxJson(['status', '--instance', 'gh-42-1-test'], {cwd: suite.work, boxHome: suite.home, env: env()});
    assert.equal(status.json.machines[0].status, 'running');
    assert.equal((await boxJson(['status'], {cwd: suite.work, boxHome: suite.home, env: env()})).json.machines[0].status, 'not-created', 'the project itself has no machine');
    const destroyed = await box(['destroy', '--instance', 'gh-42-1-test', '--force'], {cwd: suite.work, boxHome: suite.home, env: env()});
    assert.equal(destroyed.exitCode, 0, String(destroyed.stderr));
    assert.deepEqual(await cloudLeftovers(suite.ec2), NOTHING_LEFT);
    assert.ok(!existsSync(path.join(suite.work, '.box')), 'no state is left');

    const once = await boxJson(['ci', '--id', 'second'], {cwd: suite.work, boxHome: suite.home, env: env()});
    assert.equal(once.result.exitCode, 0, String(once.result.stderr));
    assert.equal(once.json.destroyed, true);
    assert.deepEqual(await cloudLeftovers(suite.ec2), NOTHING_LEFT);
    assert.ok(!existsSync(path.join(suite.work, '.box')));
    assert.match(await readFile(path.join(suite.work, 'box-artifacts', 'junit.xml'), 'utf8'), /<testcase classname="box\.cijob-second\.default" name="make test"/);
  });

  test('SIGTERM while the instance launches (the runner cancelled the job), and again while it is destroyed: exit 143 and nothing is left on EC2 or disk', async () => {
    await writeFile(path.join(suite.work, 'Boxfile'), `${awsBoxfile('cijob')}tests: [make test]\n`);
    // The stage-fault preload sends the first SIGTERM as run-instance begins; the test sends the
    // second when box says it is cleaning up (a runner that cancels twice), while the proxy
    // slows the instance's termination down so that it lands in the middle of the destroy.
    suite.proxy.faults = [{action: 'TerminateInstances', delayMs: 2000}];
    const child = execa(process.execPath, [boxBin, 'ci', '--id', 'cancelled'], {
      cwd: suite.work, reject: false, forceKillAfterDelay: false, timeout: 120_000,
      env: {BOX_HOME: suite.home, NO_COLOR: '1', ...suite.moto.env, ...preloadEnv(stageFault, fakeSshEnv().NODE_OPTIONS), BOX_FAULT_STAGE: 'run-instance', BOX_FAULT_ACTION: 'sigterm', AWS_ENDPOINT_URL_EC2: suite.proxy.url},
    });
    let stderr = '';
    let second = false;
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += String(chunk);
      if (!second && stderr.includes('cleaning up')) {
        second = true;
        child.kill('SIGTERM');
      }
    });
    const result = await child;
    assert.equal(result.exitCode, 143, `signal ${result.signal}: ${stderr}`);
    assert.ok(second, 'the second SIGTERM was sent');
    assert.match(stderr, /Still cleaning up/);
    assert.deepEqual(await cloudLeftovers(suite.ec2), NOTHING_LEFT, stderr);
    assert.ok(!existsSync(path.join(suite.work, '.box')), stderr);
  });
});
