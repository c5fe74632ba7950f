import assert from 'node:assert/strict';
import {chmod, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {execa} from 'execa';
import {makeIsoImage} from '../../src/core/iso-image.js';

// An xorriso on PATH that crashes as Debian 12's once did in CI (its own signal report, exit 1)
// for the first CRASHES runs, then hands over to the real one.
async function crashingXorriso(dir: string, crashes: number): Promise<string> {
  const real = (await execa('sh', ['-c', 'command -v xorriso'])).stdout.trim();
  const count = path.join(dir, 'runs');
  await writeFile(count, '0');
  const script = path.join(dir, 'xorriso');
  await writeFile(script, `#!/bin/sh
n=$(( $(cat '${count}') + 1 )); echo $n > '${count}'
if [ $n -le ${crashes} ]; then
  echo 'xorriso 1.5.4 : RockRidge filesystem manipulator, libburnia project.' >&2
  echo 'UNIX-SIGNAL:  SIGSEGV  errno= 0' >&2
  echo 'xorriso : ABORT : Program done. Even if you do not see a shell prompt.' >&2
  exit 1
fi
exec '${real}' "$@"
`);
  await chmod(script, 0o755);
  return count;
}

describe('ISO images (xorriso)', () => {
  let dir: string;
  const pathBefore = process.env.PATH;
  before(async () => { dir = await mkdtemp(path.join(os.tmpdir(), 'box-iso-test-')); });
  after(async () => {
    process.env.PATH = pathBefore;
    await rm(dir, {recursive: true, force: true});
  });

  test('a crashed xorriso is run once more, and the image is written', async () => {
    const bin = await mkdtemp(path.join(dir, 'bin-'));
    const runs = await crashingXorriso(bin, 1);
    process.env.PATH = `${bin}:${pathBefore}`;
    const out = await makeIsoImage([{name: 'meta-data', content: 'instance-id: x\n'}], path.join(dir, 'one.iso'), 'cidata', 'ERR_TEST');
    assert.equal((await readFile(runs, 'utf8')).trim(), '2');
    const listing = await execa('xorriso', ['-indev', out, '-ls', '/'], {env: {PATH: pathBefore}});
    assert.match(listing.stdout, /meta-data/i);
  });

  test('a second crash, or any other failure, is the error, naming the tool and its report', async () => {
    const bin = await mkdtemp(path.join(dir, 'bin-'));
    const runs = await crashingXorriso(bin, 2);
    process.env.PATH = `${bin}:${pathBefore}`;
    await assert.rejects(makeIsoImage([{name: 'meta-data', content: 'x'}], path.join(dir, 'two.iso'), 'cidata', 'ERR_TEST'),
      (error: Error & {code?: string}) => error.code === 'ERR_TEST' && /UNIX-SIGNAL/.test(error.message));
    assert.equal((await readFile(runs, 'utf8')).trim(), '2');
    const failing = await mkdtemp(path.join(dir, 'bin-'));
    await writeFile(path.join(failing, 'xorriso'), '#!/bin/sh\necho "xorriso : FAILURE : cannot write" >&2\nexit 5\n');
    await chmod(path.join(failing, 'xorriso'), 0o755);
    process.env.PATH = `${failing}:${pathBefore}`;
    await assert.rejects(makeIsoImage([{name: 'meta-data', content: 'x'}], path.join(dir, 'three.iso'), 'cidata', 'ERR_TEST'), /exited with code 5/);
  });
});
