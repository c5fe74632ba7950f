/**
 * Removing a clone's image (providers/aws/clone.ts) against moto: the image goes, the snapshots
 * it was made of go too, except those of a `box snapshot` (tagged box:snapshot), which stay the
 * source's. moto's RegisterImage makes an image of its own snapshot whatever mappings it is
 * given, so a source snapshot is stood in for by tagging that snapshot box:snapshot here.
 */
import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {CreateTagsCommand, DescribeImagesCommand, DescribeSnapshotsCommand, RegisterImageCommand} from '@aws-sdk/client-ec2';
import {removeCloneImages} from '../../../src/providers/aws/clone.js';
import {motoSuite} from './moto-suite.js';

describe('removeCloneImages against moto', () => {
  const suite = motoSuite({prefix: 'box-aws-clone-image'});

  const register = async (name: string, tags: Array<{Key: string; Value: string}>) => {
    const id = (await suite.ec2.send(new RegisterImageCommand({Name: name, RootDeviceName: '/dev/sda1'}))).ImageId!;
    await suite.ec2.send(new CreateTagsCommand({Resources: [id], Tags: tags}));
    const image = (await suite.ec2.send(new DescribeImagesCommand({ImageIds: [id]}))).Images![0]!;
    return {id, snapshot: image.BlockDeviceMappings![0]!.Ebs!.SnapshotId!};
  };
  const snapshotExists = async (id: string) => ((await suite.ec2.send(new DescribeSnapshotsCommand({OwnerIds: ['self'], Filters: [{Name: 'snapshot-id', Values: [id]}]}))).Snapshots ?? []).length > 0;

  test('deregisters the images tagged with the clone\'s token and deletes their snapshots, but not a box snapshot', async () => {
    const byToken = await register('some-other-name', [{Key: 'box:token', Value: 'tok'}]);
    const fromBoxSnapshot = await register('box-clone-p-copy-1', [{Key: 'box:token', Value: 'tok'}]);
    await suite.ec2.send(new CreateTagsCommand({Resources: [fromBoxSnapshot.snapshot], Tags: [{Key: 'box:snapshot', Value: 's1'}]}));
    const foreign = await register('foreign', [{Key: 'box:token', Value: 'other'}]);

    await removeCloneImages(suite.ec2, 'us-east-1', 'tok', {name: 'box-clone-p-copy-1'});

    const left = ((await suite.ec2.send(new DescribeImagesCommand({Owners: ['self']}))).Images ?? []).map((i) => i.ImageId);
    assert.deepEqual(left, [foreign.id], 'only the other token\'s image stays');
    assert.equal(await snapshotExists(byToken.snapshot), false, 'the snapshot the clone image made is deleted');
    assert.equal(await snapshotExists(fromBoxSnapshot.snapshot), true, 'a box snapshot stays');
    assert.equal(await snapshotExists(foreign.snapshot), true);
  });
});
