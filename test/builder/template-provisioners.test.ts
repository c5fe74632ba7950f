import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {mkdir, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {boxMethod} from '../../src/builder/methods/box/index.js';
import {isoMethod} from '../../src/builder/methods/iso/index.js';
import {loadTemplate} from '../../src/builder/template.js';
import {hashInputs} from '../../src/services/build.js';
import {tempDir} from '../helpers/cli.js';

// `provisioners:` in a template: the Boxfile's schema and registry, paths against the
// template's folder, what a build refuses, the cache key and the --dry-run plan.
describe('template provisioners', () => {
  let tmp: {dir: string; cleanup: () => Promise<void>};
  let n = 0;
  /** A template folder `tpl-N` with template.yaml = lines; returns its folder. */
  const template = async (lines: string[]): Promise<string> => {
    const dir = path.join(tmp.dir, `tpl-${++n}`);
    await mkdir(path.join(dir, 'manifests'), {recursive: true});
    await writeFile(path.join(dir, 'manifests', 'default.pp'), 'notify { "hi": }\n');
    await writeFile(path.join(dir, 'setup.sh'), 'echo setup\n');
    await writeFile(path.join(dir, 'site.yml'), '- hosts: all\n');
    await writeFile(path.join(dir, 'template.yaml'), lines.join('\n') + '\n');
    return dir;
  };
  const rejects = async (dir: string, pattern: RegExp): Promise<void> => {
    await assert.rejects(loadTemplate(dir), (e: Error & {code?: string}) => {
      assert.equal(e.code, 'ERR_TEMPLATE_INVALID');
      assert.match(e.message, pattern);
      return true;
    });
  };

  before(async () => {
    tmp = await tempDir('box-template-provisioners-');
    await mkdir(path.join(tmp.dir, 'shared', 'modules', 'app', 'manifests'), {recursive: true});
    await writeFile(path.join(tmp.dir, 'shared', 'modules', 'app', 'manifests', 'init.pp'), 'class app {}\n');
  });
  after(() => tmp.cleanup());

  test('every provisioner type of the Boxfile is accepted, with name, and host paths resolve against the template folder', async () => {
    const dir = await template([
      'method: box', 'source: base',
      'provisioners:',
      '  - {type: shell, name: setup, path: setup.sh}',
      '  - {type: file, source: setup.sh, destination: /tmp/setup.sh}',
      '  - {type: ansible, playbook: site.yml}',
      '  - {type: ansible_local, playbook: site.yml}',
      '  - {type: puppet, name: bake, module_path: ../shared/modules}',
      '  - {type: chef_solo, run_list: ["recipe[app]"]}',
      '  - {type: chef_zero, run_list: ["recipe[app]"]}',
    ]);
    const t = await loadTemplate(dir);
    const p = t.definition.provisioners as Array<Record<string, unknown>>;
    assert.deepEqual(p.map((x) => x.type), ['shell', 'file', 'ansible', 'ansible_local', 'puppet', 'chef_solo', 'chef_zero']);
    assert.equal(p[0].path, path.join(dir, 'setup.sh'));
    assert.equal(p[1].source, path.join(dir, 'setup.sh'));
    assert.equal(p[2].playbook, path.join(dir, 'site.yml'));
    assert.deepEqual(p[4].module_path, path.join(tmp.dir, 'shared', 'modules'));
    assert.equal(p[4].name, 'bake');
  });

  test('run: is refused at its line: a template\'s provisioners all run once, while the box is built', async () => {
    const dir = await template(['method: box', 'source: base', 'provisioners:', '  - type: shell', '    inline: echo hi', '    run: always']);
    await rejects(dir, /template\.yaml:6: provisioners\.0\.run: has no meaning in a build/);
  });

  test('method debootstrap refuses provisioners at the provisioners: line, pointing at method: box', async () => {
    const dir = await template(['method: debootstrap', 'debootstrap: {suite: bookworm}', 'provisioners:', '  - {type: shell, inline: echo hi}']);
    await rejects(dir, /template\.yaml:3: provisioners: not supported yet with method debootstrap: .*chroot.*method: box/);
  });

  test('a provisioner file that does not exist is refused with its line; an unknown type too', async () => {
    const missing = await template(['method: box', 'source: base', 'provisioners:', '  - type: puppet', '    manifests_path: nowhere']);
    await rejects(missing, new RegExp(`template\\.yaml:5: provisioners\\.0\\.manifests_path: no such file ${path.join(tmp.dir, 'tpl-\\d+', 'nowhere').replaceAll('/', '\\/')}`));
    const unknown = await template(['method: box', 'source: base', 'provisioners:', '  - {type: salt, state: top}']);
    await rejects(unknown, /template\.yaml:4: provisioners\.0\.type: Invalid discriminator value.*puppet/);
  });

  test('the cache key covers what provisioners read, inside the template folder and outside it', async () => {
    const dir = await template(['method: box', 'source: base', 'provisioners:', '  - {type: puppet, module_path: ../shared/modules}']);
    const key = async () => hashInputs(await loadTemplate(dir), {});
    const k1 = await key();
    assert.equal(await key(), k1);
    await writeFile(path.join(dir, 'manifests', 'default.pp'), 'notify { "changed": }\n');
    const k2 = await key();
    assert.notEqual(k2, k1, 'a changed manifest rebuilds');
    await writeFile(path.join(tmp.dir, 'shared', 'modules', 'app', 'manifests', 'init.pp'), 'class app { notify { "x": } }\n');
    assert.notEqual(await key(), k2, 'a changed module outside the template folder rebuilds');
  });

  test('the --dry-run plans of methods box and iso list the provisioners, after post-install', async () => {
    const dir = await template(['method: box', 'source: base', 'post_install: [setup.sh]', 'provisioners:', '  - {type: puppet, name: bake}', '  - {type: shell, inline: echo hi}']);
    const plan = boxMethod.plan(await loadTemplate(dir));
    const at = plan.findIndex((l) => l.includes('puppet bake'));
    assert.equal(plan[at], 'provisioner [1/2] over SSH in the build VM: puppet bake');
    assert.equal(plan[at + 1], 'provisioner [2/2] over SSH in the build VM: shell inline script');
    assert.ok(plan.findIndex((l) => l.startsWith('post-install')) < at);
    const isoDir = await template(['method: iso', 'kernel: {url: "http://x/k"}', 'initrd: {url: "http://x/i"}', 'provisioners:', '  - {type: puppet, name: bake}']);
    assert.ok(isoMethod.plan(await loadTemplate(isoDir)).includes('provisioner [1/1] over SSH in the build VM: puppet bake'));
  });
});
