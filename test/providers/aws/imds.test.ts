import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {mkdir, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {DescribeInstancesCommand, type Instance} from '@aws-sdk/client-ec2';
import type {AwsSettings} from '../../../src/providers/aws/settings.js';
import {loadTemplate} from '../../../src/builder/template.js';
import {silentUi} from '../../../src/core/ui.js';
import {AwsProvider} from '../../../src/providers/aws/aws-provider.js';
import {bakeAmi} from '../../../src/services/aws-bake.js';
import {awsContext, awsMachine} from './machine.js';
import {motoSuite} from './moto-suite.js';

const UBUNTU_AMI = 'ami-1e749f67';

// Instances box launches (machines and bake instances) require IMDSv2 unless the Boxfile says
// otherwise (targets.aws.metadata_options); moto records and reports MetadataOptions.
describe('instance metadata options (IMDSv2 required by default) in up and bake', () => {
  const suite = motoSuite({prefix: 'box-imds', inProcess: true});

  /** Every instance moto ever launched (terminated ones too: bake instances are gone by the end). */
  const instances = async (): Promise<Instance[]> => ((await suite.ec2.send(new DescribeInstancesCommand({}))).Reservations ?? []).flatMap((r) => r.Instances ?? []);
  const upWith = async (aws: AwsSettings) => {
    const ctx = awsContext(suite.work, awsMachine('web', {ami: UBUNTU_AMI, ssh_cidr: '203.0.113.4/32', ...aws}));
    await new AwsProvider().up(ctx);
    const [instance] = await instances();
    await new AwsProvider().destroy(ctx);
    return instance.MetadataOptions;
  };
  const bakeWith = async (aws: AwsSettings) => {
    const tpl = path.join(suite.work, 'tpl');
    await mkdir(tpl, {recursive: true});
    await writeFile(path.join(tpl, 'template.yaml'), 'name: imds\nversion: 1.0.0\nmethod: box\nsource: box base\nssh: {username: admin}\npost_install:\n  - inline: ["true"]\n');
    await bakeAmi({template: await loadTemplate(tpl), aws: {ami: UBUNTU_AMI, ssh_cidr: '203.0.113.4/32', ...aws}, outputDir: path.join(suite.work, 'out'), ui: silentUi(), signal: new AbortController().signal});
    const [instance] = await instances();
    return instance.MetadataOptions;
  };

  test('up launches with HttpTokens=required and the endpoint enabled unless the Boxfile says otherwise', async () => {
    const plain = await upWith({});
    assert.equal(plain?.HttpTokens, 'required');
    assert.equal(plain?.HttpEndpoint, 'enabled');
    await suite.moto.reset();
    const relaxed = await upWith({metadata_options: {http_tokens: 'optional', http_put_response_hop_limit: 2}});
    assert.equal(relaxed?.HttpTokens, 'optional');
    assert.equal(relaxed?.HttpPutResponseHopLimit, 2);
    await suite.moto.reset();
    assert.equal((await upWith({metadata_options: {http_endpoint: 'disabled'}}))?.HttpEndpoint, 'disabled');
  });

  test('a bake launches its temporary instance the same way', async () => {
    assert.equal((await bakeWith({}))?.HttpTokens, 'required');
    await suite.moto.reset();
    assert.equal((await bakeWith({metadata_options: {http_tokens: 'optional'}}))?.HttpTokens, 'optional');
  });
});
