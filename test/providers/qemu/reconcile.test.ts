import assert from 'node:assert/strict';
import {describe, test} from 'node:test';
import type {MachineState} from '../../../src/core/state.js';
import {reconcile, type ReconcileInput} from '../../../src/providers/qemu/qemu-provider.js';

const disk = '/p/.box/machines/web/disk.qcow2';

function state(provider: Record<string, unknown> = {}): MachineState {
  return {
    machine: 'web', target: 'qemu', createdAt: '2026-01-01T00:00:00Z', provisioned: true,
    provider: {phase: 'created', disk, qmpSocket: '/p/qmp.sock', pidFile: '/p/qemu.pid', serialLog: '/p/serial.log', sshPort: 2222, forwardedPorts: [], keyInserted: true, ...provider},
  };
}

function input(over: Partial<ReconcileInput> & {alive?: number[]; scanned?: number[]; disks?: string[]; qmp?: string}): ReconcileInput {
  return {
    name: 'web',
    state: over.state,
    pidFilePid: over.pidFilePid,
    dirExists: over.dirExists ?? true,
    files: {disk, qmpSocket: '/p/qmp.sock'},
    probe: {
      isOurQemu: async (pid) => (over.alive ?? []).includes(pid),
      machineQemus: async () => over.scanned ?? [],
      diskExists: async (file) => (over.disks ?? [disk]).includes(file),
      qmpStatus: async () => over.qmp,
    },
  };
}

describe('status reconciliation', () => {
  test('no state, no process, no folder: not-created', async () => {
    assert.equal((await reconcile(input({dirExists: false, disks: []}))).status, 'not-created');
  });

  test('a live QEMU that answers QMP "running": running, with its pid and ssh port', async () => {
    const r = await reconcile(input({state: state({pid: 41}), alive: [41], qmp: 'running'}));
    assert.equal(r.status, 'running');
    assert.equal(r.details?.pid, 41);
    assert.equal(r.details?.sshPort, 2222);
  });

  test('a recorded saved state with no QEMU: suspended, with when and how big; its file gone: broken, repaired by halt --force', async () => {
    const suspended = {file: '/p/suspend.state', at: '2026-01-02T00:00:00Z', bytes: 123, launch: [], binary: {path: 'q', size: 1, mtimeMs: 1}, baseImage: {path: 'b', size: 1, mtimeMs: 1}};
    const r = await reconcile(input({state: state({suspended}), disks: [disk, '/p/suspend.state']}));
    assert.equal(r.status, 'suspended');
    assert.deepEqual([r.details?.suspendedAt, r.details?.stateBytes], ['2026-01-02T00:00:00Z', 123]);
    const gone = await reconcile(input({state: state({suspended})}));
    assert.equal(gone.status, 'broken');
    assert.match(gone.reason!, /recorded as suspended but its saved state \/p\/suspend.state is missing/);
    assert.equal(gone.repair, 'box halt --force web');
  });

  test('recorded pid dead but disk present: stopped', async () => {
    assert.equal((await reconcile(input({state: state({pid: 41}), alive: []}))).status, 'stopped');
  });

  test('a pid that is alive but is not our QEMU (pid reuse) is not mistaken for the machine', async () => {
    // isOurQemu false for 41 (some other program got the pid): the machine is stopped.
    assert.equal((await reconcile(input({state: state({pid: 41}), alive: [99]}))).status, 'stopped');
  });

  test('QEMU alive but QMP silent: broken, repaired by halt --force', async () => {
    const r = await reconcile(input({state: state({pid: 41}), alive: [41], qmp: undefined}));
    assert.equal(r.status, 'broken');
    assert.equal(r.repair, 'box halt --force web');
  });

  test('state recorded but the overlay never made (crash during up): broken, repaired by destroy', async () => {
    const r = await reconcile(input({state: state({phase: 'creating'}), disks: []}));
    assert.equal(r.status, 'broken');
    assert.match(r.reason!, /half created/);
    assert.equal(r.repair, 'box destroy web');
  });

  test('a QEMU known only from its pid file (state never completed): broken, repaired by destroy', async () => {
    const r = await reconcile(input({state: undefined, pidFilePid: 77, alive: [77]}));
    assert.equal(r.status, 'broken');
    assert.equal(r.repair, 'box destroy web');
    assert.equal(r.details?.pid, 77);
  });

  test('the pid file is trusted when state.json has no pid yet (killed right after spawn)', async () => {
    const r = await reconcile(input({state: state({pid: undefined}), pidFilePid: 55, alive: [55], qmp: 'running'}));
    assert.equal(r.status, 'running');
    assert.equal(r.details?.pid, 55);
  });

  test('a QEMU that no record names is found by its command line (pid file lost): running', async () => {
    const r = await reconcile(input({state: state({pid: 41}), alive: [], scanned: [63], qmp: 'running'}));
    assert.equal(r.status, 'running');
    assert.equal(r.details?.pid, 63);
  });

  test('the disk checked is the one in the machine folder, not a path state.json recorded (a copied project)', async () => {
    const r = await reconcile(input({state: state({disk: '/other/copy/.box/machines/web/disk.qcow2'}), disks: ['/other/copy/.box/machines/web/disk.qcow2']}));
    assert.equal(r.status, 'broken');
    assert.match(r.reason!, new RegExp(`disk ${disk} of web is missing`));
  });

  test('the overlay deleted behind box\'s back: broken, repaired by destroy', async () => {
    const r = await reconcile(input({state: state(), disks: []}));
    assert.equal(r.status, 'broken');
    assert.match(r.reason!, /disk .* is missing/);
  });
});
