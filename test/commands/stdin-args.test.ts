import assert from 'node:assert/strict';
import {readFileSync} from 'node:fs';
import {writeFile} from 'node:fs/promises';
import path from 'node:path';
import {pathToFileURL} from 'node:url';
import {after, before, describe, test} from 'node:test';
import {box, repoRoot, tempDir} from '../helpers/cli.js';

// oclif fills a positional argument the user left out with whatever is piped to the command, so
// `cat f | box ssh -c 'cat > f'` once took the file for a machine name and swallowed it before
// ssh could read it. Standard input belongs to the command (ssh hands it to the guest).
const manifest = JSON.parse(readFileSync(path.join(repoRoot, 'oclif.manifest.json'), 'utf8'));

describe('piped standard input is never taken for a missing argument', () => {
  let project: {dir: string; cleanup: () => Promise<void>};
  let home: {dir: string; cleanup: () => Promise<void>};
  before(async () => {
    project = await tempDir('box-stdin-project-');
    home = await tempDir('box-stdin-home-');
    await writeFile(path.join(project.dir, 'Boxfile'), 'basebox: debian-12-minimal\nmachines:\n  web: {}\n');
  });
  after(async () => {
    await project.cleanup();
    await home.cleanup();
  });

  test('every argument of every command is declared with ignoreStdin', async () => {
    const missing: string[] = [];
    for (const [id, command] of Object.entries<any>(manifest.commands)) {
      const module = await import(pathToFileURL(path.join(repoRoot, ...command.relativePath)).href);
      for (const [name, arg] of Object.entries<any>(module.default.args ?? {})) {
        if (arg.ignoreStdin !== true) missing.push(`${id} ${name}`);
      }
    }
    assert.deepEqual(missing, []);
  });

  test('`box ssh -c` with data piped in looks for the project\'s machine, not for one named after the data', async () => {
    const result = await box(['ssh', '-c', 'cat > f'], {cwd: project.dir, boxHome: home.dir, input: 'some data\n'});
    assert.notEqual(result.exitCode, 0);
    assert.doesNotMatch(String(result.stderr), /No machine named/, String(result.stderr));
    assert.match(String(result.stderr), /web/, 'the project\'s one machine, which is not created');
  });

  test('a required argument left out stays missing when something is piped in', async () => {
    const result = await box(['template', 'show'], {boxHome: home.dir, input: 'debian-12-minimal\n'});
    assert.equal(result.exitCode, 2, String(result.stdout));
    assert.match(String(result.stderr), /Missing 1 required arg/);
  });
});
