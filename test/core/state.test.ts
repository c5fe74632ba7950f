import assert from 'node:assert/strict';
import {existsSync} from 'node:fs';
import {mkdir, readFile, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {indexMachine, readMachineIndexReport, readMachineState, salvageEntries, type IndexEntry} from '../../src/core/state.js';
import {boxJson, tempDir} from '../helpers/cli.js';
// Records name registered targets (the CLI registers them the same way).
import '../../src/providers/registry.js';

const entry = (machine: string, projectRoot = '/nowhere/p'): Omit<IndexEntry, 'updatedAt'> => ({project: 'p', projectRoot, machine, target: 'qemu'});

describe('machine records that are damaged', () => {
  let home: Awaited<ReturnType<typeof tempDir>>;
  const previous = process.env.BOX_HOME;
  const indexFile = () => path.join(home.dir, 'machines.json');

  before(async () => {
    home = await tempDir('box-state-home-');
    process.env.BOX_HOME = home.dir;
  });
  after(async () => {
    process.env.BOX_HOME = previous;
    await home.cleanup();
  });

  test('a machines.json cut short keeps every complete entry; garbage keeps none; neither throws', async () => {
    for (const m of ['a', 'b', 'c']) await indexMachine(entry(m));
    const full = await readFile(indexFile(), 'utf8');
    await writeFile(indexFile(), full.slice(0, full.lastIndexOf('"machine": "c"')));
    let report = await readMachineIndexReport();
    assert.deepEqual(report.entries.map((e) => e.machine), ['a', 'b']);
    assert.match(report.damage!.problem, /not JSON/);
    assert.equal(report.damage!.recovered, 2);

    await writeFile(indexFile(), 'garbage{');
    report = await readMachineIndexReport();
    assert.deepEqual(report.entries, []);
    assert.equal(report.damage!.recovered, 0);

    await writeFile(indexFile(), '{"not": "a list"}');
    assert.match((await readMachineIndexReport()).damage!.problem, /not a JSON list/);
    // A brace inside a string does not confuse the salvage.
    assert.deepEqual(salvageEntries('[{"project": "p{", "projectRoot": "/x}", "machine": "m", "target": "qemu"}, {"proj').map((e) => e.projectRoot), ['/x}']);
  });

  test('a write to a damaged index keeps what could be read, adds its change, and keeps a copy of the damaged file', async () => {
    await writeFile(indexFile(), '[]');
    for (const m of ['a', 'b']) await indexMachine(entry(m));
    const full = await readFile(indexFile(), 'utf8');
    const damaged = full.slice(0, full.length - 10);
    await writeFile(indexFile(), damaged);
    await indexMachine(entry('new'));
    const report = await readMachineIndexReport();
    assert.equal(report.damage, undefined, 'repaired');
    assert.deepEqual(report.entries.map((e) => e.machine), ['a', 'new']);
    assert.equal(await readFile(`${indexFile()}.damaged`, 'utf8'), damaged);
  });

  test('status --all reports a damaged index as a broken row naming the repair, and --prune rewrites it', async () => {
    await writeFile(indexFile(), '[]');
    await indexMachine(entry('kept'));
    const full = await readFile(indexFile(), 'utf8');
    await writeFile(indexFile(), `${full.trimEnd().slice(0, -1)}, {"project": "p", "projectRoo`);
    const {result, json} = await boxJson(['status', '--all'], {boxHome: home.dir});
    assert.equal(result.exitCode, 0, String(result.stderr));
    const row = json.machines.find((m: any) => m.name === '(index)');
    assert.equal(row.status, 'broken');
    assert.match(row.reason, /machines\.json is damaged .*1 entry could still be read/);
    assert.equal(row.repair, 'box status --all --prune');
    assert.ok(json.machines.some((m: any) => m.name === 'kept'), 'the entries that could be read are listed');

    const pruned = await boxJson(['status', '--all', '--prune'], {boxHome: home.dir});
    assert.equal(pruned.result.exitCode, 0);
    assert.equal((await readMachineIndexReport()).damage, undefined);
  });

  test('an unreadable state.json is ERR_STATE_CORRUPT naming the file, what is wrong and the repair', async () => {
    const root = path.join(home.dir, 'project');
    const dir = path.join(root, '.box', 'machines', 'web');
    await mkdir(dir, {recursive: true});
    const cases: Array<[string, RegExp]> = [
      ['', /it is empty/],
      ['{"machine": "web", "tar', /it is not JSON/],
      ['[]', /not a JSON object/],
      ['{"machine": "web", "target": "kvm", "provider": {}}', /target "kvm" is not qemu, virtualbox or aws/],
      ['{"machine": "web", "target": "qemu"}', /no provider record/],
    ];
    for (const [text, problem] of cases) {
      await writeFile(path.join(dir, 'state.json'), text);
      await assert.rejects(readMachineState(root, 'web'), (error: any) => {
        assert.equal(error.code, 'ERR_STATE_CORRUPT');
        assert.ok(error.message.includes(path.join(dir, 'state.json')));
        assert.match(error.message, problem);
        assert.match(error.hint, /box destroy web/);
        return true;
      }, text);
    }
    assert.equal(existsSync(path.join(dir, 'state.json')), true, 'reading never changes the file');
  });
});
