import assert from 'node:assert/strict';
import {after, before, describe, test} from 'node:test';
import {writeFile} from 'node:fs/promises';
import path from 'node:path';
import {box, boxJson, tempDir} from '../helpers/cli.js';

describe('box doctor', () => {
  let home: {dir: string; cleanup: () => Promise<void>};
  before(async () => {
    home = await tempDir();
  });
  after(async () => home.cleanup());

  test('reports every target with checks and prints nothing but JSON on stdout with --json', async () => {
    const {result, json} = await boxJson(['doctor'], {boxHome: home.dir, env: {AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_PROFILE: '', AWS_REGION: ''}});
    assert.equal(result.exitCode, 0);
    assert.deepEqual(json.targets.map((t: {target: string}) => t.target), ['qemu', 'virtualbox', 'aws']);
    for (const target of json.targets) {
      assert.equal(typeof target.usable, 'boolean');
      assert.ok(target.summary.length > 0);
      for (const check of target.checks) if (!check.ok) assert.ok(check.hint, `${target.target}/${check.name} has no install hint`);
    }
  });

  test('finds QEMU and explains why KVM is not used on a host without vmx/svm', async (t) => {
    const {json} = await boxJson(['doctor'], {boxHome: home.dir});
    const qemu = json.targets.find((x: {target: string}) => x.target === 'qemu');
    assert.equal(qemu.usable, true, 'qemu-system-x86_64 and qemu-img are installed by .ci/run');
    assert.match(qemu.checks[0].detail, /QEMU emulator version \d+/);
    const kvm = qemu.checks.find((c: {name: string}) => c.name === 'kvm');
    assert.ok(kvm, 'a kvm check is reported');
    const cpuinfo = (await import('node:fs')).readFileSync('/proc/cpuinfo', 'utf8');
    if (!/\b(vmx|svm)\b/.test(cpuinfo)) {
      assert.equal(kvm.ok, false);
      assert.match(kvm.detail, /vmx\/svm|does not exist|cannot be opened/);
      assert.match(qemu.summary, /TCG/);
    } else {
      t.diagnostic('this host has vmx/svm: the KVM verdict depends on the QEMU probe');
    }
  });

  test('reports AWS credentials by source and masked key only, never the secret', async () => {
    const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
    const {json, result} = await boxJson(['doctor'], {boxHome: home.dir, env: {AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE', AWS_SECRET_ACCESS_KEY: secret, AWS_REGION: 'eu-west-1', AWS_ENDPOINT_URL_EC2: 'http://127.0.0.1:5999'}});
    const aws = json.targets.find((x: {target: string}) => x.target === 'aws');
    assert.equal(aws.usable, true);
    assert.match(JSON.stringify(aws), /eu-west-1/);
    assert.match(JSON.stringify(aws), /127\.0\.0\.1:5999/);
    assert.ok(!result.stdout.includes(secret) && !result.stderr.includes(secret), 'secret key leaked');
    assert.ok(!result.stdout.includes('AKIAIOSFODNN7EXAMPLE'), 'full access key id leaked');
  });

  test('prints a human report on stdout without --json and exits 0', async () => {
    const result = await box(['doctor'], {boxHome: home.dir});
    assert.equal(result.exitCode, 0);
    assert.match(result.stdout, /qemu: usable/);
    assert.match(result.stdout, /virtualbox:/);
  });
  test('inside a project it checks the Boxfile\'s aws region, profile and endpoint, and an invalid Boxfile is exit 2', async () => {
    const project = await tempDir('box-doctor-project-');
    try {
      await writeFile(path.join(project.dir, 'Boxfile'), 'basebox: debian-12\ntargets:\n  aws: {region: ap-southeast-2, endpoint: "http://127.0.0.1:5998"}\n');
      const env = {AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE', AWS_SECRET_ACCESS_KEY: 'x', AWS_REGION: 'eu-west-1', AWS_ENDPOINT_URL_EC2: ''};
      const {json} = await boxJson(['doctor'], {boxHome: home.dir, cwd: project.dir, env});
      assert.equal(json.boxfile, path.join(project.dir, 'Boxfile'));
      const aws = json.targets.find((x: {target: string}) => x.target === 'aws');
      assert.equal(aws.checks.find((c: {name: string}) => c.name === 'region').detail, 'ap-southeast-2');
      assert.match(aws.checks.find((c: {name: string}) => c.name === 'endpoint').detail, /127\.0\.0\.1:5998 \(targets\.aws\.endpoint\)/);
      await writeFile(path.join(project.dir, 'Boxfile'), 'basebox: debian-12\ntargets:\n  aws: {regoin: x}\n');
      const bad = await box(['doctor'], {boxHome: home.dir, cwd: project.dir, env});
      assert.equal(bad.exitCode, 2);
      assert.match(String(bad.stderr), /targets\.aws\.regoin: unknown key \(did you mean region\?\)/);
    } finally {
      await project.cleanup();
    }
  });

  test('tools show their versions, also those printed on stderr (ssh -V)', async () => {
    const {json} = await boxJson(['doctor'], {boxHome: home.dir});
    assert.match(json.tools.find((t: {name: string}) => t.name === 'ssh').detail, /OpenSSH_\d/);
  });
});
