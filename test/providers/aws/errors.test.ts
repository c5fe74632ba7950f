import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {mkdtemp, rm, writeFile} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {mapAwsError, redact} from '../../../src/providers/aws/errors.js';
import {profileDefined} from '../../../src/providers/aws/profiles.js';
import {retryOnCodes} from '../../../src/providers/aws/retry.js';

function sdkError(name: string, message = name, fault: 'client' | 'server' = 'client'): Error {
  return Object.assign(new Error(message), {name, $fault: fault, $metadata: {httpStatusCode: fault === 'server' ? 500 : 400}});
}

describe('AWS error mapping', () => {
  test('known EC2 codes become stable box errors with a next step', () => {
    const cases: Array<[string, string, RegExp]> = [
      ['InsufficientInstanceCapacity', 'ERR_AWS_CAPACITY', /no capacity for instance type "c7g.large" in eu-west-1/],
      ['InvalidAMIID.NotFound', 'ERR_AWS_AMI_NOT_FOUND', /AMI "ami-0abc" does not exist in eu-west-1/],
      ['InvalidAMIID.Malformed', 'ERR_AWS_AMI_NOT_FOUND', /AMI "ami-0abc"/],
      ['UnauthorizedOperation', 'ERR_AWS_UNAUTHORIZED', /may not call RunInstances in eu-west-1/],
      ['AuthFailure', 'ERR_AWS_AUTH', /did not accept the credentials \(AuthFailure\)/],
      ['ExpiredToken', 'ERR_AWS_AUTH', /ExpiredToken/],
      ['CredentialsProviderError', 'ERR_AWS_NO_CREDENTIALS', /No AWS credentials/],
    ];
    for (const [name, code, message] of cases) {
      const e = mapAwsError(sdkError(name), {action: 'RunInstances', region: 'eu-west-1', ami: 'ami-0abc', instanceType: 'c7g.large'});
      assert.equal(e.code, code, name);
      assert.match(e.message, message, name);
      assert.ok(e.hint && e.hint.length > 10, `${name} has a hint`);
    }
  });

  test('a missing region and an unreachable endpoint are named', () => {
    assert.equal(mapAwsError(new Error('Region is missing'), {action: 'configure region'}).code, 'ERR_AWS_REGION');
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), {code: 'ECONNREFUSED'});
    const e = mapAwsError(refused, {action: 'DescribeInstances', endpoint: 'http://127.0.0.1:1'});
    assert.equal(e.code, 'ERR_AWS_UNREACHABLE');
    assert.match(e.message, /http:\/\/127\.0\.0\.1:1/);
  });

  test('credentials are scrubbed from messages that quote them', () => {
    process.env.AWS_SECRET_ACCESS_KEY = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
    try {
      const text = 'bad request Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/ec2/aws4_request, Signature=abcdef0123 key AKIAIOSFODNN7EXAMPLE secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
      const out = redact(text);
      assert.ok(!out.includes('AKIAIOSFODNN7EXAMPLE'));
      assert.ok(!out.includes('wJalrXUtnFEMI'));
      assert.ok(!out.includes('abcdef0123'));
      const mapped = mapAwsError(sdkError('SomethingOdd', text), {action: 'DescribeInstances'});
      assert.ok(!JSON.stringify(mapped.toJSON()).includes('AKIAIOSFODNN7EXAMPLE'));
    } finally {
      delete process.env.AWS_SECRET_ACCESS_KEY;
    }
  });
});

describe('retryOnCodes', () => {
  test('retries DependencyViolation with growing delays, then succeeds', async () => {
    const delays: number[] = [];
    let calls = 0;
    const value = await retryOnCodes(async () => {
      if (++calls < 4) throw sdkError('DependencyViolation');
      return 'deleted';
    }, {codes: ['DependencyViolation'], firstDelayMs: 5, onRetry: (_c, _a, d) => delays.push(d)});
    assert.equal(value, 'deleted');
    assert.deepEqual(delays, [5, 10, 20]);
  });

  test('does not retry other errors, and gives up after the attempt limit', async () => {
    let calls = 0;
    await assert.rejects(retryOnCodes(async () => { calls++; throw sdkError('InvalidGroup.NotFound'); }, {codes: ['DependencyViolation'], firstDelayMs: 1}), /InvalidGroup.NotFound/);
    assert.equal(calls, 1);
    calls = 0;
    await assert.rejects(retryOnCodes(async () => { calls++; throw sdkError('DependencyViolation'); }, {codes: ['DependencyViolation'], attempts: 3, firstDelayMs: 1}), /DependencyViolation/);
    assert.equal(calls, 3);
  });

  test('a profile counts as defined in the config file ([profile NAME], [default]) or the credentials file ([NAME])', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'box-aws-profiles-'));
    const saved = {config: process.env.AWS_CONFIG_FILE, credentials: process.env.AWS_SHARED_CREDENTIALS_FILE};
    try {
      process.env.AWS_CONFIG_FILE = path.join(dir, 'config');
      process.env.AWS_SHARED_CREDENTIALS_FILE = path.join(dir, 'credentials');
      await writeFile(process.env.AWS_CONFIG_FILE, '[default]\nregion = eu-west-1\n[profile work]\nregion = us-east-1\n[sso-session corp]\nsso_region = us-east-1\n');
      await writeFile(process.env.AWS_SHARED_CREDENTIALS_FILE, '[ci]\naws_access_key_id = x\n');
      assert.deepEqual(['default', 'work', 'ci', 'corp', 'profile work', 'nonexistent'].map(profileDefined), [true, true, true, false, false, false]);
      const e = mapAwsError(new Error('Region is missing'), {action: 'configure region', profile: 'wrok'});
      assert.equal(e.code, 'ERR_AWS_PROFILE');
      assert.equal(e.exitCode, 2);
      assert.match(e.message, /"wrok" \(targets\.aws\.profile\) is not defined/);
      assert.equal(mapAwsError(new Error('Region is missing'), {action: 'configure region', profile: 'work'}).code, 'ERR_AWS_REGION', 'a defined profile without a region is a missing region');
    } finally {
      for (const [k, v] of [['AWS_CONFIG_FILE', saved.config], ['AWS_SHARED_CREDENTIALS_FILE', saved.credentials]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      await rm(dir, {recursive: true, force: true});
    }
  });
});
