import assert from 'node:assert/strict';
import path from 'node:path';
import {describe, test} from 'node:test';
import {loadProject} from '../../src/boxfile/load.js';
import {isInlineText} from '../../src/boxfile/resolve.js';
import {BoxError} from '../../src/core/errors.js';
import {checkTargetSettings} from '../../src/services/check-target-settings.js';
import {box} from '../helpers/cli.js';
import {boxfileProjects} from './helpers.js';

const userData = '#cloud-config\nwrite_files:\n  - {path: /etc/hello, content: hi}\n';

async function refusal(promise: Promise<unknown>): Promise<BoxError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof BoxError, String(error));
    return error;
  }
  assert.fail('expected a refusal');
}

describe('cloud-init in the Boxfile: user_data, cloud_init', () => {
  const projects = boxfileProjects('box-cloud-init-');

  test('inline or host file: a line break or a leading # is inline, any other one-line text is a file', () => {
    assert.equal(isInlineText('#cloud-config\n{}'), true);
    assert.equal(isInlineText('#!/bin/sh'), true);
    assert.equal(isInlineText('packages: [curl]\nruncmd: []'), true);
    assert.equal(isInlineText('cloud/user-data.yaml'), false);
  });

  test('user_data (a file relative to the Boxfile) and cloud_init resolve per machine; machine layers override', async () => {
    const cwd = await projects.project('resolve', {
      'Boxfile': `basebox: debian-12
user_data: cloud/user-data
machines:
  web:
    hostname: web-1
    cloud_init:
      meta_data: {region: lab}
      network_config: |
        version: 2
        ethernets: {eth0: {dhcp4: true}}
  db:
    cloud_init:
      user_data: |
        #cloud-config
        packages: [postgresql]
`,
      'cloud/user-data': userData,
    });
    const p = await loadProject({cwd, target: 'qemu'});
    const web = p.machines.find((m) => m.name === 'web')!;
    const db = p.machines.find((m) => m.name === 'db')!;
    assert.deepEqual(web.cloudInit, {
      userData: {path: path.join(cwd, 'cloud/user-data')},
      metaData: {region: 'lab'},
      networkConfig: {inline: 'version: 2\nethernets: {eth0: {dhcp4: true}}\n'},
      userDataSetAt: [['user_data']],
    });
    // db inherits user_data from the top level and sets cloud_init.user_data: a contradiction.
    assert.deepEqual(db.cloudInit?.userDataSetAt, [['user_data'], ['cloud_init', 'user_data']]);
    assert.deepEqual(db.cloudInit?.userData, {inline: '#cloud-config\npackages: [postgresql]\n'});
    const error = await refusal(checkTargetSettings(p));
    assert.equal(error.exitCode, 2);
    assert.match(error.message, /Boxfile:13:18 machines\.db\.cloud_init\.user_data: user-data is set by both user_data and cloud_init\.user_data \(machine db\)/);
    assert.doesNotMatch(error.message, /machine web/, 'web sets it once');
  });

  test('user_data with targets.aws.user_data is refused at the aws key; either alone is fine', async () => {
    const cwd = await projects.project('aws-twice', `basebox: debian-12
user_data: "#cloud-config\\n{}"
targets:
  aws:
    ami: ami-12345678
    user_data: "#!/bin/sh\\necho hi"
machines:
  web: {}
`);
    const error = await refusal(checkTargetSettings(await loadProject({cwd, target: 'aws'})));
    assert.equal(error.exitCode, 2);
    assert.match(error.message, /Boxfile:6:16 targets\.aws\.user_data: user-data is set by both user_data and targets\.aws\.user_data/);
    const alone = await projects.project('aws-alone', `basebox: debian-12
targets:
  aws: {ami: ami-12345678, ssh_cidr: 203.0.113.4/32, user_data: "#!/bin/sh\\necho hi"}
machines:
  web: {}
`);
    await checkTargetSettings(await loadProject({cwd: alone, target: 'aws'}));
  });

  test('aws: meta_data and network_config not supported yet; qemu and virtualbox take all three', async () => {
    const cwd = await projects.project('targets', `basebox: debian-12
user_data: "#cloud-config\\n{}"
cloud_init:
  meta_data: {region: lab}
  network_config: "version: 2\\n"
machines:
  web: {}
`);
    const aws = await refusal(checkTargetSettings(await loadProject({cwd, target: 'aws'})));
    assert.equal(aws.code, 'ERR_NOT_SUPPORTED');
    assert.match(aws.message, /Boxfile:4:14 cloud_init\.meta_data: cloud_init\.meta_data is not supported yet on the aws target/);
    assert.match(aws.message, /Boxfile:5:19 cloud_init\.network_config: cloud_init\.network_config is not supported yet on the aws target/);
    assert.match(aws.hint ?? '', /qemu: user_data, meta_data, network_config; virtualbox: user_data, meta_data, network_config; aws: user_data/);
    assert.doesNotMatch(aws.message, /\d user_data:/, 'aws sends user_data');
    await checkTargetSettings(await loadProject({cwd, target: 'qemu'}));
    await checkTargetSettings(await loadProject({cwd, target: 'virtualbox'}));
  });

  test('a user_data file that is not there is refused at its line, by `box validate` too', async () => {
    const cwd = await projects.project('missing', `basebox: debian-12
machines:
  web:
    user_data: cloud/nope.yaml
`);
    const error = await refusal(checkTargetSettings(await loadProject({cwd, target: 'qemu'})));
    assert.equal(error.exitCode, 2);
    assert.match(error.message, /Boxfile:4:16 machines\.web\.user_data: cannot read .*cloud\/nope\.yaml/);
    const validate = await box(['validate', '--target', 'qemu'], {cwd, boxHome: projects.home});
    assert.equal(validate.exitCode, 2, String(validate.stderr));
    assert.match(String(validate.stderr), /cannot read .*nope\.yaml/);
  });
});
