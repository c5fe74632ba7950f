import {afterEach, beforeEach, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {writeFile} from 'node:fs/promises';
import path from 'node:path';
import {box, boxJson, tempDir} from '../helpers/cli.js';

// `box validate` must refuse whatever `box up` refuses before creating anything: for each aws
// settings check, both exit 2 with the same message at the same Boxfile line:col. No EC2 API is
// needed (both fail first); the endpoint points at a closed port so a call would show.
const HEAD = 'name: checks\nbasebox: debian-12\ntarget: aws\n';
const cases: Array<{name: string; boxfile: string; where: RegExp; args?: string[]}> = [
  {
    name: 'neither ssh_cidr nor security_groups',
    boxfile: `${HEAD}targets:\n  aws:\n    ami: ami-1e749f67\n`,
    where: /^ {2}Boxfile:5:3 targets\.aws\.ssh_cidr: is not set, nor security_groups, so box does not know who may reach SSH on machine "default"$/m,
  },
  {
    name: 'ssh_cidr set only in an environment that is not selected',
    boxfile: `${HEAD}targets:\n  aws: {ami: ami-1e749f67}\nmachines:\n  web:\n    targets:\n      aws: {instance_type: t3.small}\nenvironments:\n  prod:\n    targets:\n      aws: {ssh_cidr: 198.51.100.7/32}\n`,
    where: /^ {2}Boxfile:9:7 machines\.web\.targets\.aws\.ssh_cidr: is not set, nor security_groups/m,
  },
  {
    name: 'key_name without private_key_path',
    boxfile: `${HEAD}targets:\n  aws: {ami: ami-1e749f67, ssh_cidr: 198.51.100.7/32}\nmachines:\n  web:\n    targets:\n      aws:\n        key_name: deploy\n`,
    where: /^ {2}Boxfile:9:7 machines\.web\.targets\.aws\.private_key_path: is required with key_name "deploy"$/m,
  },
  {
    name: 'iops on a gp2 volume',
    boxfile: `${HEAD}targets:\n  aws:\n    ami: ami-1e749f67\n    ssh_cidr: 198.51.100.7/32\n    block_device_mappings:\n      - {device_name: /dev/sdb, volume_size: 8, volume_type: gp2, iops: 100}\n`,
    where: /^ {2}Boxfile:9:73 targets\.aws\.block_device_mappings\[0\]\.iops: is set but volume_type is "gp2"$/m,
  },
  {
    name: 'a device mapped twice',
    boxfile: `${HEAD}targets:\n  aws:\n    ami: ami-1e749f67\n    ssh_cidr: 198.51.100.7/32\n    block_device_mappings:\n      - {device_name: /dev/sdb, volume_size: 8}\n      - {device_name: /dev/sdb, volume_size: 9}\n`,
    where: /^ {2}Boxfile:10:23 targets\.aws\.block_device_mappings\[1\]\.device_name: "\/dev\/sdb" is mapped twice$/m,
  },
  {
    name: 'an instance-store volume with EBS fields',
    boxfile: `${HEAD}targets:\n  aws:\n    ami: ami-1e749f67\n    ssh_cidr: 198.51.100.7/32\n    block_device_mappings:\n      - {device_name: /dev/sdc, virtual_name: ephemeral0, encrypted: true}\n`,
    where: /^ {2}Boxfile:9:9 targets\.aws\.block_device_mappings\[0\]: is the instance-store volume "ephemeral0" but also sets EBS field\(s\) encrypted$/m,
  },
  {
    name: 'an EBS volume without size or snapshot',
    boxfile: `${HEAD}targets:\n  aws:\n    ami: ami-1e749f67\n    ssh_cidr: 198.51.100.7/32\n    block_device_mappings:\n      - {device_name: /dev/sdd}\n`,
    where: /^ {2}Boxfile:9:9 targets\.aws\.block_device_mappings\[0\]: \(\/dev\/sdd\) needs volume_size/m,
  },
  {
    name: 'a qemu Boxfile brought up with --target aws',
    boxfile: 'name: checks\nbasebox: debian-12\n',
    where: /^ {2}Boxfile:1:1 targets\.aws\.ssh_cidr: is not set, nor security_groups/m,
    args: ['--target', 'aws'],
  },
];

describe('box validate refuses what box up refuses for the aws settings (same exit code and message)', () => {
  let project: {dir: string; cleanup: () => Promise<void>};
  let home: {dir: string; cleanup: () => Promise<void>};
  beforeEach(async () => {
    project = await tempDir('box-aws-checks-');
    home = await tempDir('box-aws-checks-home-');
  });
  afterEach(async () => {
    await project.cleanup();
    await home.cleanup();
  });
  const env = {
    AWS_ENDPOINT_URL_EC2: 'http://127.0.0.1:9', AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE', AWS_SECRET_ACCESS_KEY: 'not-a-real-secret-key',
    AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null', BOX_AWS_MAX_ATTEMPTS: '1',
  };
  const errorLines = (stderr: string) => stderr.split('\n').filter((l) => /^ {2}Boxfile:\d+:\d+ /.test(l));

  for (const c of cases) {
    test(c.name, async () => {
      await writeFile(path.join(project.dir, 'Boxfile'), c.boxfile);
      const opts = {cwd: project.dir, boxHome: home.dir, env};
      const validate = await box(['validate', ...(c.args ?? [])], opts);
      const up = await box(['up', ...(c.args ?? [])], opts);
      assert.equal(validate.exitCode, 2, String(validate.stderr));
      assert.equal(up.exitCode, 2, String(up.stderr));
      assert.match(String(validate.stderr), c.where);
      assert.deepEqual(errorLines(String(up.stderr)), errorLines(String(validate.stderr)), 'up and validate report the same problem at the same place');
      const v = await boxJson(['validate', ...(c.args ?? [])], opts);
      const u = await boxJson(['up', ...(c.args ?? [])], opts);
      assert.equal(u.json.error.code, v.json.error.code);
      assert.equal(u.json.error.message, v.json.error.message);
      assert.doesNotMatch(String(up.stderr), /ECONNREFUSED|Cannot reach/, 'up refused before any API call');
    });
  }

  test('a bad targets.aws.metadata_options value is refused by validate and up alike, at its line', async () => {
    await writeFile(path.join(project.dir, 'Boxfile'), `${HEAD}targets:\n  aws:\n    ami: ami-1e749f67\n    ssh_cidr: 198.51.100.7/32\n    metadata_options: {http_tokens: maybe, http_put_response_hop_limit: 0}\n`);
    const opts = {cwd: project.dir, boxHome: home.dir, env};
    const validate = await box(['validate'], opts);
    const up = await box(['up'], opts);
    assert.equal(validate.exitCode, 2);
    assert.equal(up.exitCode, 2);
    assert.match(String(validate.stderr), /^ {2}Boxfile:8:37 targets\.aws\.metadata_options\.http_tokens: .*required.*optional/m);
    assert.match(String(validate.stderr), /targets\.aws\.metadata_options\.http_put_response_hop_limit/);
    assert.deepEqual(errorLines(String(up.stderr)), errorLines(String(validate.stderr)));
  });
});

