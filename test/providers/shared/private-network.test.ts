import assert from 'node:assert/strict';
import {mkdir, mkdtemp, rm, writeFile} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {describe, test} from 'node:test';
import {loadProject} from '../../../src/boxfile/load.js';
import {readMachineState, writeMachineState} from '../../../src/core/state.js';
import {machineDir} from '../../../src/core/paths.js';
import {planPrivateAddress} from '../../../src/providers/shared/private-network.js';
// Loading a Boxfile needs the registered targets (the CLI registers them the same way).
import '../../../src/providers/registry.js';

describe('the private network address plan (shared by the targets)', () => {
  test('machines of one project on different targets never get the same address', async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'box-plan-'));
    try {
      await writeFile(path.join(root, 'Boxfile'), 'basebox: debian-12\ntarget: qemu\nnetworks: [{type: private}]\nmachines:\n  web:\n  db:\n    target: virtualbox\n');
      const project = await loadProject({cwd: root});
      assert.deepEqual(project.machines.map((m) => m.target), ['qemu', 'virtualbox']);
      // As the providers do: the machine is recorded before its address is planned.
      for (const m of project.machines) {
        await mkdir(machineDir(root, m.name), {recursive: true});
        await writeMachineState(root, {machine: m.name, target: m.target, createdAt: new Date().toISOString(), provisioned: false, upCompleted: false, provider: {}});
      }
      const [web, db] = await Promise.all(project.machines.map((m) => planPrivateAddress(project, m)));
      assert.notEqual(web!.ip, db!.ip);
      assert.notEqual(web!.mac, db!.mac);
      assert.deepEqual((await readMachineState(root, 'db'))!.privateNetwork, db);
    } finally {
      await rm(root, {recursive: true, force: true});
    }
  });
});
