import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import {ListObjectsV2Command} from '@aws-sdk/client-s3';
import {box} from '../helpers/cli.js';
import {cloudLeftovers, motoSuite, NOTHING_LEFT, tinyBoxAndBucket} from '../providers/aws/moto-suite.js';
import {awsBoxfile} from '../helpers/aws-boxfile.js';
import {fakeSshEnv} from '../helpers/fake-ssh.js';

// What the user reads when the endpoint, the profile or the API itself is the problem: the
// built CLI against moto (and the fault proxy in front of it), exit codes and messages.
describe('aws errors name the endpoint, the action and the profile (CLI against moto)', () => {
  const suite = motoSuite({prefix: 'box-aws-err', boxfile: awsBoxfile('err-demo')});
  const env = () => ({...suite.moto.env, ...fakeSshEnv(), BOX_AWS_MAX_ATTEMPTS: '2'});
  const run = (args: string[], extra: Record<string, string> = {}, unset: string[] = []) => box(args, {cwd: suite.work, boxHome: suite.home, env: Object.fromEntries(Object.entries({...env(), ...extra}).filter(([k]) => !unset.includes(k)))});
  const nothingLeft = async () => assert.deepEqual(await cloudLeftovers(suite.ec2), NOTHING_LEFT);

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
    const s3 = await tinyBoxAndBucket(suite, run);

    const push = await run(['image', 'push', 'tiny', '--target', 'aws', '--bucket', 'images']);
    assert.equal(push.exitCode, 1, String(push.stderr));
    const stderr = String(push.stderr);
    assert.match(stderr, new RegExp(`The endpoint ${suite.moto.url.replaceAll('.', '\\.')} does not support ImportImage \\(it answered HTTP 500`));
    assert.doesNotMatch(stderr, /XML parse error|Deserialization error/);
    assert.doesNotMatch(stderr, /box destroy/);
    assert.deepEqual((await s3.send(new ListObjectsV2Command({Bucket: 'images'}))).Contents ?? [], [], 'the upload was removed');
  });

  test('a non-XML 500 from an EC2-compatible endpoint says it does not support the action, and the failed up leaves nothing', async () => {
    const {proxy} = suite;
    proxy.faults = [{action: 'RunInstances', status: 500, html: true}];
    const up = await run(['up'], {AWS_ENDPOINT_URL_EC2: proxy.url});
    assert.equal(up.exitCode, 1, String(up.stderr));
    assert.match(String(up.stderr), new RegExp(`The endpoint ${proxy.url.replaceAll('.', '\\.')} does not support RunInstances`));
    assert.doesNotMatch(String(up.stderr), /XML parse error/);
    // The failed first up removed everything it made: it must not claim to have left the machine.
    assert.match(String(up.stderr), /Failed: the new machine default was removed; nothing of it is left\./);
    assert.doesNotMatch(String(up.stderr), /left as it is/);
    await nothingLeft();
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
