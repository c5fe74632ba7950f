import {beforeEach, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {existsSync} from 'node:fs';
import {mkdir, readdir, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {execa} from 'execa';
import {DescribeImagesCommand} from '@aws-sdk/client-ec2';
import {box, boxBin, boxJson} from '../helpers/cli.js';
import {cloudLeftovers, motoSuite, NOTHING_LEFT, tinyBoxAndBucket} from '../providers/aws/moto-suite.js';
import {awsBoxfile} from '../helpers/aws-boxfile.js';
import {fakeSshEnv} from '../helpers/fake-ssh.js';

// A real box process killed with -9 in the middle of a bake or an image push, against moto:
// the fault proxy holds the answer of one call (after moto acted) so the kill lands there.
// What it left (cloud resources, the bake's private key and the push's disk image in the
// temp dir) must be found and removed by `box sweep`, `box destroy` or the next run.
const TEMPLATE = 'name: killed-bake\nversion: 1.0.0\nmethod: box\nsource: box base\npost_install:\n  - inline: ["true"]\n';
/** The CreateImage that tags the image only (moto takes no snapshot tags at CreateImage; real EC2 does). */
const imageOnly = (p: URLSearchParams) => !p.has('TagSpecification.2.ResourceType');

describe('a box process killed with -9 mid-bake or mid-push leaves nothing sweep, destroy or the next run cannot remove', () => {
  const suite = motoSuite({prefix: 'box-killed', boxfile: awsBoxfile('killed')});
  let tmp: string;
  beforeEach(async () => {
    await mkdir(path.join(suite.work, 'tpl'));
    await writeFile(path.join(suite.work, 'tpl', 'template.yaml'), TEMPLATE);
    // box's own temp dir for these runs: what it leaves there is all ours to look at.
    tmp = path.join(suite.work, 'tmp');
    await mkdir(tmp);
  });

  const env = (viaProxy: boolean) => ({...suite.moto.env, ...fakeSshEnv(), TMPDIR: tmp, ...(viaProxy ? {AWS_ENDPOINT_URL_EC2: suite.proxy.url} : {})});
  const run = (args: string[]) => box(args, {cwd: suite.work, boxHome: suite.home, env: env(false)});
  /** Starts box through the proxy, waits until it is inside the held call, and kills it with -9. */
  const killDuring = async (args: string[], action: string, when?: (p: URLSearchParams) => boolean) => {
    suite.proxy.faults = [{action, after: 'hold', times: 1, when}];
    const inside = suite.proxy.seen(action, when);
    const child = execa(process.execPath, [boxBin, ...args], {cwd: suite.work, env: {BOX_HOME: suite.home, NO_COLOR: '1', ...env(true)}, reject: false});
    await Promise.race([inside, child.then((r) => { throw new Error(`box exited before ${action}: ${r.stderr}`); })]);
    child.kill('SIGKILL');
    const result = await child;
    assert.equal(result.signal, 'SIGKILL');
    suite.proxy.faults = [];
  };
  test('killed during CreateImage: the AMI is tagged on creation, and sweep removes it, its snapshot, the temporary resources and the work folder with the private key', async () => {
    await killDuring(['build', './tpl', '--target', 'aws', '--output', 'out'], 'CreateImage', imageOnly);
    const [workDir] = await readdir(tmp);
    assert.match(workDir ?? '', /^box-bake-/, 'the killed bake left its work folder');
    assert.ok(existsSync(path.join(tmp, workDir, 'bake_ed25519')), 'with the private key in it');
    const [image] = (await suite.ec2.send(new DescribeImagesCommand({Owners: ['self']}))).Images ?? [];
    assert.ok(image?.Tags?.some((t) => t.Key === 'box:token'), 'the AMI moto made carries the bake\'s token from its creation');

    const dry = await boxJson(['sweep', '--dry-run'], {cwd: suite.work, boxHome: suite.home, env: env(false)});
    assert.ok(dry.json.resources.some((r: {type: string; id: string}) => r.type === 'work-folder' && r.id === path.join(tmp, workDir)), JSON.stringify(dry.json.resources));
    assert.deepEqual(await readdir(tmp), [workDir], 'a dry run removes nothing');
    const swept = await boxJson(['sweep'], {cwd: suite.work, boxHome: suite.home, env: env(false)});
    assert.equal(swept.result.exitCode, 0, String(swept.result.stderr));
    assert.deepEqual(await cloudLeftovers(suite.ec2), NOTHING_LEFT);
    assert.deepEqual(await readdir(tmp), [], 'the private key is gone from the temp dir');
    assert.deepEqual(await readdir(path.join(suite.home, 'bakes', 'aws')), [], 'and so is the dead bake\'s record');
  });

  test('killed while launching: box destroy removes the work folder, sweep the cloud side', async () => {
    await killDuring(['build', './tpl', '--target', 'aws', '--output', 'out'], 'RunInstances');
    assert.equal((await readdir(tmp)).length, 1);
    const destroyed = await run(['destroy', '--force']);
    assert.equal(destroyed.exitCode, 0, String(destroyed.stderr));
    assert.deepEqual(await readdir(tmp), []);
    assert.equal((await run(['sweep'])).exitCode, 0);
    assert.deepEqual(await cloudLeftovers(suite.ec2), NOTHING_LEFT);
  });

  test('killed during ImportImage: the next push removes the killed one\'s work folder (its disk image)', async () => {
    await tinyBoxAndBucket(suite, run);

    await killDuring(['image', 'push', 'tiny', '--target', 'aws', '--bucket', 'images'], 'ImportImage');
    const [workDir] = await readdir(tmp);
    assert.match(workDir ?? '', /^box-push-/);
    assert.ok(existsSync(path.join(tmp, workDir, 'disk.vmdk')), 'the killed push left its disk image');
    // moto has no ImportImage: the next push fails there, but first removes what the killed one left.
    const next = await run(['image', 'push', 'tiny', '--target', 'aws', '--bucket', 'images']);
    assert.equal(next.exitCode, 1);
    assert.match(String(next.stderr), /does not support ImportImage/);
    assert.deepEqual(await readdir(tmp), []);
  });
});
