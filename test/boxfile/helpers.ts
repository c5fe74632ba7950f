import assert from 'node:assert/strict';
import {mkdir, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {after, before} from 'node:test';
import type {BoxfileIssue} from '../../src/boxfile/issues.js';
import {BoxError} from '../../src/core/errors.js';
import {loadProject, type LoadProjectOptions} from '../../src/boxfile/load.js';
import {tempDir} from '../helpers/cli.js';
// Loading a Boxfile needs the registered targets (the CLI registers them the same way).
import '../../src/providers/registry.js';

/** Writes files (relative path → content) under `dir`, creating folders. */
export async function writeFiles(dir: string, files: Record<string, string>): Promise<void> {
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), {recursive: true});
    await writeFile(path.join(dir, name), content);
  }
}

/** Runs loadProject expecting ERR_BOXFILE_INVALID; returns the error and its issues. */
export async function loadErrors(options: LoadProjectOptions): Promise<{error: BoxError; issues: BoxfileIssue[]}> {
  try {
    await loadProject(options);
  } catch (error) {
    assert.ok(error instanceof BoxError, `expected a BoxError, got ${String(error)}`);
    assert.equal(error.code, 'ERR_BOXFILE_INVALID', error.message);
    assert.equal(error.exitCode, 2);
    return {error, issues: (error.details?.errors ?? []) as BoxfileIssue[]};
  }
  assert.fail('loadProject should have failed');
}

/** The issues as the one-line strings users see, without the leading indent. */
export function lines(error: BoxError): string[] {
  return error.message.split('\n').slice(1).map((l) => l.trim());
}

/**
 * For a describe block of Boxfile cases: a temp folder (removed after), BOX_HOME inside it (a
 * user config lands in `home`), and `project(name, files)` to write one project folder; a
 * string is the Boxfile's text.
 */
export function boxfileProjects(prefix: string): {readonly dir: string; readonly home: string; project(name: string, files: Record<string, string> | string): Promise<string>} {
  let folder: Awaited<ReturnType<typeof tempDir>> | undefined;
  before(async () => {
    folder = await tempDir(prefix);
    process.env.BOX_HOME = path.join(folder.dir, 'home');
  });
  after(async () => {
    delete process.env.BOX_HOME;
    await folder?.cleanup();
  });
  return {
    get dir() { return folder!.dir; },
    get home() { return path.join(folder!.dir, 'home'); },
    async project(name, files) {
      const root = path.join(folder!.dir, name);
      await writeFiles(root, typeof files === 'string' ? {Boxfile: files} : files);
      return root;
    },
  };
}
