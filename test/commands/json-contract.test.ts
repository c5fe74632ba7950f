import assert from 'node:assert/strict';
import {readFileSync} from 'node:fs';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {box, repoRoot, tempDir} from '../helpers/cli.js';

// Every command, run with --json in a folder with no Boxfile and an empty BOX_HOME, must print
// exactly one JSON document on stdout (its result, or {"error": {...}}) and exit with a
// documented code. Commands come from the committed manifest, so a new command is covered
// the day it is added.
const manifest = JSON.parse(readFileSync(path.join(repoRoot, 'oclif.manifest.json'), 'utf8'));
const commandIds: string[] = Object.keys(manifest.commands).sort();

describe('the --json contract of every command', () => {
  let project: {dir: string; cleanup: () => Promise<void>};
  let home: {dir: string; cleanup: () => Promise<void>};
  before(async () => {
    project = await tempDir('box-json-project-');
    home = await tempDir('box-json-home-');
  });
  after(async () => {
    await project.cleanup();
    await home.cleanup();
  });

  test('the manifest lists the lifecycle, store and build commands', () => {
    for (const id of ['up', 'halt', 'destroy', 'provision', 'status', 'ssh', 'ssh-config', 'validate', 'init', 'doctor', 'build', 'box:add', 'box:list', 'box:remove', 'box:prune']) {
      assert.ok(commandIds.includes(id), `${id} missing from oclif.manifest.json`);
    }
  });

  for (const id of commandIds) {
    if (id === 'init') continue; // init writes a Boxfile: covered by its own tests
    test(`box ${id.replaceAll(':', ' ')} --json prints one JSON document and a documented exit code`, async () => {
      assert.ok(manifest.commands[id].flags.json, `${id} has no --json flag`);
      const result = await box([...id.split(':'), '--json'], {
        cwd: project.dir,
        boxHome: home.dir,
        // An AWS endpoint where nothing listens and no credentials: aws commands must fail cleanly.
        env: {AWS_ENDPOINT_URL_EC2: 'http://127.0.0.1:9', AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_MAX_ATTEMPTS: '1'},
        timeoutMs: 60_000,
      });
      assert.ok([0, 1, 2].includes(result.exitCode ?? -1), `exit code ${result.exitCode}\n${result.stderr}`);
      let doc: any;
      assert.doesNotThrow(() => { doc = JSON.parse(String(result.stdout)); }, `stdout is not one JSON document:\n${result.stdout}`);
      if (result.exitCode !== 0) {
        assert.ok(doc.error, 'a failure prints {"error": ...}');
        assert.match(doc.error.code, /^ERR_[A-Z0-9_]+$/);
        assert.equal(typeof doc.error.message, 'string');
        assert.equal(doc.error.exitCode, result.exitCode);
      }
    });
  }
  test('an unknown command with --json prints an ERR_UNKNOWN_COMMAND document with a did-you-mean and exits 2', async () => {
    const result = await box(['stauts', '--json'], {cwd: project.dir, boxHome: home.dir});
    assert.equal(result.exitCode, 2);
    const doc = JSON.parse(String(result.stdout));
    assert.equal(doc.error.code, 'ERR_UNKNOWN_COMMAND');
    assert.match(doc.error.hint, /Did you mean `box status`\?/);
    const plain = await box(['nosuch'], {cwd: project.dir, boxHome: home.dir});
    assert.equal(plain.exitCode, 2);
    assert.equal(String(plain.stdout), '');
    assert.match(String(plain.stderr), /box nosuch is not a box command/);
  });

  test('box --version --json prints the version as JSON', async () => {
    const result = await box(['--version', '--json'], {cwd: project.dir, boxHome: home.dir});
    assert.equal(result.exitCode, 0);
    const doc = JSON.parse(String(result.stdout));
    assert.equal(doc.version, JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')).version);
  });

  test('the root and topic help document the exit codes', async () => {
    for (const args of [['--help'], ['box', '--help'], ['up', '--help']]) {
      const result = await box(args, {cwd: project.dir, boxHome: home.dir});
      assert.match(String(result.stdout), /EXIT CODES[\s\S]*130\s+interrupted/, args.join(' '));
    }
  });
});
