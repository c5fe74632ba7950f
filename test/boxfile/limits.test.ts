import assert from 'node:assert/strict';
import {describe, test} from 'node:test';
import {mkdir, open, rm, symlink} from 'node:fs/promises';
import path from 'node:path';
import {boxfileLimits} from '../../src/boxfile/limits.js';
import {loadProject} from '../../src/boxfile/load.js';
import {boxfileProjects, lines, loadErrors} from './helpers.js';

// What box refuses to read, and how it says so: every bound names the limit and the place.
describe('Boxfile limits and YAML structure', () => {
  const projects = boxfileProjects('box-limits-');
  const {project} = projects;

  test('a file over the size limit is refused without being parsed, naming the size and the limit', async () => {
    const cwd = await project('too-big', '');
    // 880 000 machines, ~9.8 MiB (the report that ran for an hour had 700 000 in 9.7 MB).
    const handle = await open(path.join(cwd, 'Boxfile'), 'w');
    await handle.write('basebox: debian-12\nmachines:\n');
    const chunk = Array.from({length: 10_000}, (_, i) => `  m${i}:\n`).join('');
    for (let i = 0; i < 88; i++) await handle.write(chunk.replaceAll('  m', `  m${i}x`));
    await handle.close();
    const {error, issues} = await loadErrors({cwd});
    assert.equal(issues.length, 1);
    assert.match(lines(error)[0], /^Boxfile:1:1 the file is \d+\.\d MiB; box reads files of at most 8\.0 MiB/);
  });

  test('a config file that is not a plain file (a link to /dev/zero) is read no further than the limit', async () => {
    const cwd = await project('endless-config', 'basebox: debian-12\n');
    await mkdir(projects.home, {recursive: true});
    await symlink('/dev/zero', path.join(projects.home, 'config.yaml'));
    try {
      const {error} = await loadErrors({cwd});
      assert.deepEqual(lines(error), [`${path.join(projects.home, 'config.yaml')}:1:1 the file is more than 8.0 MiB; box reads files of at most 8.0 MiB (a Boxfile is usually a few KiB)`]);
    } finally {
      await rm(path.join(projects.home, 'config.yaml'));
    }
  });

  test('more machines than the limit are refused at the machines key, before the schema runs', async () => {
    const count = boxfileLimits.maxMachines + 1;
    const cwd = await project('many-machines', `basebox: debian-12\nmachines:\n${Array.from({length: count}, (_, i) => `  m${i}: {}`).join('\n')}\n`);
    const {error} = await loadErrors({cwd});
    assert.deepEqual(lines(error), [`Boxfile:2:1 machines: declares ${count} machines; box reads at most ${boxfileLimits.maxMachines}`]);
  });

  test('nesting deeper than the limit stops the parse where it crosses the limit', async () => {
    const depth = 100_000;
    const cwd = await project('deep', `basebox: debian-12\nx-deep: ${'['.repeat(depth)}${']'.repeat(depth)}\n`);
    const {error} = await loadErrors({cwd});
    assert.deepEqual(lines(error), [`Boxfile:2:${10 + boxfileLimits.maxDepth} nested more than ${boxfileLimits.maxDepth} levels deep (mappings and lists); box reads at most ${boxfileLimits.maxDepth} (a Boxfile needs about 8)`]);
  });

  test('a repeated key is reported at the second one, with the line of the first', async () => {
    const cwd = await project('dup-key', 'basebox: debian-12\ntarget: qemu\ntargets:\n  qemu: {cpus: 1, cpus: 2}\ntarget: aws\n');
    const {error} = await loadErrors({cwd});
    assert.deepEqual(lines(error), [
      'Boxfile:4:19 targets.qemu.cpus: key repeated in this mapping (first on line 4); one value would silently replace the other',
      'Boxfile:5:1 target: key repeated in this mapping (first on line 2); one value would silently replace the other',
    ]);
  });

  test('keys that are the same once read as plain data are repeated keys (1 and "1")', async () => {
    const cwd = await project('dup-number-key', 'basebox: debian-12\nx-ports:\n  1: a\n  "1": b\n');
    const {error} = await loadErrors({cwd});
    assert.deepEqual(lines(error), ['Boxfile:4:3 x-ports.1: key repeated in this mapping (first on line 3); one value would silently replace the other']);
  });

  test('several merge keys in one mapping are allowed, and a merge of a scalar is refused where it is written', async () => {
    const ok = await project('two-merges', 'x-a: &a {target: qemu}\nx-b: &b {basebox: debian-12}\nmachines:\n  web:\n    <<: *a\n    <<: *b\n');
    const loaded = await loadProject({cwd: ok});
    assert.deepEqual([loaded.machines[0].target, loaded.machines[0].basebox?.name], ['qemu', 'debian-12']);
    const bad = await project('merge-scalar', 'basebox: debian-12\nx-a: &a 3\nmachines:\n  web:\n    <<: *a\n');
    const {error} = await loadErrors({cwd: bad});
    assert.deepEqual(lines(error), ['Boxfile:5:9 machines.web.<<: << (merge key) takes a mapping, an alias of one (*name) or a list of them']);
  });

  test('a mapping or list used as a key is refused (plain data has only text keys)', async () => {
    const cwd = await project('collection-key', 'basebox: debian-12\nx-k:\n  ? [a, b]\n  : 1\n');
    const {error} = await loadErrors({cwd});
    assert.deepEqual(lines(error), ['Boxfile:3:5 x-k.?: a key must be a plain value such as a name, not a mapping or a list']);
  });

  test('an alias bomb is refused at the value whose expansion crosses the limit', async () => {
    // Each level holds nine aliases of the one before: 9^7 values once expanded.
    const bomb = ['a: &a [1, 2]', ...'bcdefgh'.split('').map((k, i) => `${k}: &${k} [${Array(9).fill(`*${'abcdefgh'[i]}`).join(', ')}]`)].join('\n');
    const cwd = await project('alias-bomb', `${bomb}\n`);
    const {error} = await loadErrors({cwd});
    assert.deepEqual(lines(error), [`Boxfile:7:7 g: expands to more than ${boxfileLimits.maxValues} values through YAML aliases; box reads at most ${boxfileLimits.maxValues}`]);
  });

  test('an anchor used thousands of times is fine while the expanded data stays small', async () => {
    const machines = Array.from({length: 3000}, (_, i) => `  m${i}: {<<: *small}`).join('\n');
    const cwd = await project('many-aliases', `basebox: debian-12\nx-small: &small\n  targets: {qemu: {memory: 512M}}\nmachines:\n${machines}\n`);
    const loaded = await loadProject({cwd});
    assert.equal(loaded.machines.length, 3000);
    assert.equal(loaded.machines[2999].qemu.memoryMiB, 512);
  });

  test('more anchors and aliases than the limit are refused at the one past it', async () => {
    const items = Array.from({length: boxfileLimits.maxAliases / 2 + 1}, (_, i) => `  - [&a${i} x, *a${i}]`).join('\n');
    const cwd = await project('too-many-aliases', `basebox: debian-12\nx-list:\n${items}\n`);
    const {error} = await loadErrors({cwd});
    const last = boxfileLimits.maxAliases / 2;
    assert.deepEqual(lines(error), [`Boxfile:${last + 3}:13 x-list[${last}][0]: more than ${boxfileLimits.maxAliases} YAML anchors and aliases (&name, *name); box reads at most ${boxfileLimits.maxAliases}`]);
  });

  test('an alias inside its own anchor (a value that contains itself) is refused', async () => {
    const cwd = await project('recursive-alias', 'basebox: debian-12\nx-loop: &loop\n  again: *loop\n');
    const {error} = await loadErrors({cwd});
    assert.deepEqual(lines(error), ['Boxfile:3:10 x-loop.again: alias *loop is inside the value anchored &loop: a value cannot contain itself']);
  });

  test('an alias without an anchor before it is reported where it is written', async () => {
    const cwd = await project('dangling-alias', 'basebox: debian-12\ntargets: *nowhere\n');
    const {error} = await loadErrors({cwd});
    assert.match(lines(error)[0], /^Boxfile:2:10 /);
  });

  test('many errors are all in details but the message lists the first 200', async () => {
    const machines = Array.from({length: 300}, (_, i) => `  m${i}: {targets: {qemu: {cpus: 0}}}`).join('\n');
    const cwd = await project('many-errors', `basebox: debian-12\nmachines:\n${machines}\n`);
    const {error, issues} = await loadErrors({cwd});
    assert.equal(issues.length, 300);
    assert.equal(lines(error).length, 201);
    assert.equal(lines(error)[200], '... and 100 more (--json lists them all)');
  });
});
