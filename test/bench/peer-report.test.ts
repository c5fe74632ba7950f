import assert from 'node:assert/strict';
import {describe, test} from 'node:test';
import {formatReport, median, peerMissingReason, summarize, type PeerProbe, type Sample} from '../../bench/peer-report.js';

// The logic of `npm run bench -- --against vagrant` (bench/peer.bench.ts) without its guests.
describe('peer bench report', () => {
  test('median: the middle value, the mean of the middle two for an even count, nothing for none', () => {
    assert.equal(median([5, 1, 3]), 3);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.equal(median([7]), 7);
    assert.equal(median([]), undefined);
  });

  const samples: Sample[] = [
    ...[300, 280, 900].map((ms) => ({op: 'version', tool: 'box' as const, ms})),
    ...[160, 170, 150].map((ms) => ({op: 'version', tool: 'vagrant' as const, ms})),
    ...[40, 50, 45].map((ms) => ({op: 'version', tool: 'node' as const, ms})),
    ...[200, 100].map((ms) => ({op: 'status-none', tool: 'box' as const, ms})),
    ...[1500, 1700].map((ms) => ({op: 'status-none', tool: 'vagrant' as const, ms})),
    {op: 'halt', tool: 'box', ms: 3000},
    {op: 'halt', tool: 'vagrant', ms: 40_000},
    ...[2200, 2400].map((ms) => ({op: 'ssh', tool: 'box' as const, ms})),
    ...[2000, 2000].map((ms) => ({op: 'ssh', tool: 'openssh' as const, ms})),
    ...[4000, 5000].map((ms) => ({op: 'ssh', tool: 'vagrant' as const, ms})),
  ];

  test('ratios are box median ÷ peer median, checked against the issue\'s targets', () => {
    const {rows, ssh, versionOverNodeMs} = summarize(samples);
    const byOp = Object.fromEntries(rows.map((r) => [r.op, r]));
    assert.deepEqual({box: byOp.version.boxMs, vagrant: byOp.version.otherMs, ratio: byOp.version.ratio, met: byOp.version.met}, {box: 300, vagrant: 160, ratio: 1.88, met: undefined});
    assert.deepEqual({ratio: byOp['status-none'].ratio, met: byOp['status-none'].met, count: byOp['status-none'].count}, {ratio: 0.09, met: true, count: 2});
    assert.deepEqual({ratio: byOp.halt.ratio, target: byOp.halt.target, met: byOp.halt.met}, {ratio: 0.08, target: 0.1, met: true});
    assert.deepEqual({ratio: byOp.ssh.ratio, target: byOp.ssh.target}, {ratio: 0.51, target: undefined});
    // ssh against plain OpenSSH: 2300 / 2000 = 1.15, over the 10 % allowed.
    assert.deepEqual({ratio: ssh.ratio, target: ssh.target, met: ssh.met}, {ratio: 1.15, target: 1.1, met: false});
    // An operation nobody timed has no medians and no ratio.
    assert.deepEqual({box: byOp.destroy.boxMs, ratio: byOp.destroy.ratio, met: byOp.destroy.met}, {box: undefined, ratio: undefined, met: undefined});
    assert.equal(versionOverNodeMs, 255);
  });

  test('without the peer: box\'s own medians, no ratios, and the reason printed under the table', () => {
    const boxOnly = samples.filter((s) => s.tool !== 'vagrant');
    const report = formatReport({samples: boxOnly, pairs: 1, runs: 3, loadBefore: [1.5, 1.25, 1], loadAfter: [2, 1.75, 1.5], peerMissing: 'Vagrant is not installed (no `vagrant` on PATH)'});
    assert.match(report, /\| `--version` \(3 runs\) \| 0\.300 s \| — \| — \|/);
    assert.match(report, /\| `halt` \| 3\.000 s \| — \| — \|/);
    assert.match(report, /No ratios against Vagrant: Vagrant is not installed \(no `vagrant` on PATH\)\.$/);
    assert.match(report, /before: 1\.50 1\.25 1\.00; after: 2\.00 1\.75 1\.50/);
    // The OpenSSH comparison does not need Vagrant.
    assert.match(report, /\| 2\.300 s \| 2\.000 s \| \*\*1\.15\*\* \(target ≤ 1\.1: missed\) \|/);
  });

  test('with the peer: ratios in the table, the target verdict next to each, no "no ratios" line', () => {
    const report = formatReport({samples, pairs: 1, runs: 3, loadBefore: [1, 1, 1], loadAfter: [1, 1, 1], peerVersion: 'Vagrant 2.3.4'});
    assert.match(report, /box vs Vagrant 2\.3\.4 \+ vagrant-libvirt: 1 pair/);
    assert.match(report, /\| `status`, no machine \(2 runs\) \| 0\.150 s \| 1\.600 s \| \*\*0\.09\*\* \(target ≤ 0\.15: met\) \|/);
    assert.match(report, /\| `--version` \(3 runs\) \| 0\.300 s \| 0\.160 s \| \*\*1\.88\*\* \|/);
    assert.doesNotMatch(report, /No ratios/);
  });

  test('the reason names the first missing piece, from Vagrant itself to libvirtd\'s network namespace', () => {
    const ready: PeerProbe = {netns: 'box-peer', vagrantVersion: 'Vagrant 2.3.4', libvirtPlugin: true, virsh: true, libvirtd: true, libvirtdInNetns: true};
    assert.equal(peerMissingReason(ready), undefined);
    assert.match(peerMissingReason({netns: 'box-peer'})!, /^Vagrant is not installed \(no `vagrant` on PATH\); run scripts\/setup-vagrant-libvirt\.sh/);
    assert.match(peerMissingReason({...ready, vagrantVersion: 'Vagrant 1.9.1'})!, /not Vagrant 2\.x/);
    assert.match(peerMissingReason({...ready, libvirtPlugin: false})!, /^the vagrant-libvirt plugin is not installed/);
    assert.match(peerMissingReason({...ready, virsh: false})!, /no `virsh` on PATH/);
    assert.match(peerMissingReason({...ready, libvirtd: false})!, /^libvirtd does not answer on qemu:\/\/\/system; start it with scripts\/setup-vagrant-libvirt\.sh start/);
    assert.match(peerMissingReason({...ready, libvirtdInNetns: false})!, /^libvirtd does not run inside network namespace box-peer/);
  });
});
