import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {mkdir, readFile, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {diskGiB, durationMs, loadTemplate, memoryMiB, parseVarFlags} from '../../src/builder/template.js';
import {builtinTemplatesDir, findTemplate, listTemplates, resolveTemplateFile} from '../../src/builder/templates-dir.js';
import {BoxError} from '../../src/core/errors.js';
import {tempDir} from '../helpers/cli.js';

async function writeTemplate(root: string, name: string, yaml: string): Promise<string> {
  const dir = path.join(root, name);
  await mkdir(dir, {recursive: true});
  await writeFile(path.join(dir, 'template.yaml'), yaml);
  return dir;
}

async function rejectsWith(promise: Promise<unknown>, code: string, pattern?: RegExp): Promise<BoxError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof BoxError, `expected a BoxError, got ${error}`);
    assert.equal(error.code, code, error.message);
    if (pattern) assert.match(error.message + '\n' + (error.hint ?? ''), pattern);
    return error;
  }
  assert.fail(`expected ${code}`);
}

describe('template.yaml loading', () => {
  let tmp: {dir: string; cleanup: () => Promise<void>};
  before(async () => {
    tmp = await tempDir('box-template-');
  });
  after(() => tmp.cleanup());

  test('the built-in debian-12-minimal template loads as a debootstrap build of bookworm with the packages a Vagrant box needs', async () => {
    const t = await loadTemplate(path.join(builtinTemplatesDir, 'debian-12-minimal'));
    assert.equal(t.name, 'debian-12-minimal');
    assert.equal(t.definition.method, 'debootstrap');
    const d = t.definition.debootstrap!;
    assert.equal(d.suite, 'bookworm');
    assert.equal(d.variant, 'minbase');
    assert.equal(d.mirror, 'http://deb.debian.org/debian');
    for (const pkg of ['systemd-sysv', 'openssh-server', 'sudo', 'linux-image-cloud-amd64', 'dbus', 'rsync', 'ca-certificates']) {
      assert.ok(d.packages.includes(pkg), `${pkg} is installed`);
    }
    assert.ok(!d.packages.includes('ifupdown'), 'DHCP comes from systemd-networkd, not ifupdown');
    assert.ok(d.initramfs_modules.includes('virtio_blk'));
    assert.equal(diskGiB(t.definition.disk), 10);
    assert.match(t.definition.kernel_cmdline!, /console=ttyS0/);
    const scripts = t.definition.post_install.map((p) => p.script);
    assert.deepEqual(scripts, ['scripts/fast-boot.sh', 'scripts/slim.sh', '_scripts/vagrant-user.sh', '_scripts/sshd.sh', '_scripts/first-boot.sh', '_scripts/cleanup.sh']);
    assert.equal(d.boot_without_initrd, false, 'initrd and virtio disk kept: QEMU cannot save an NVMe controller (suspend, live snapshots)');
    for (const s of scripts) assert.ok(resolveTemplateFile(t.dir, s!).length > 0);
  });

  test('debian-12-cloud is debian-12-minimal plus cloud-init: the same packages and scripts (borrowed, not copied), the seed CD driver in the initramfs, its cloud-init settings before cleanup', async () => {
    const minimal = await loadTemplate(path.join(builtinTemplatesDir, 'debian-12-minimal'));
    const t = await loadTemplate(path.join(builtinTemplatesDir, 'debian-12-cloud'));
    assert.equal(t.definition.method, 'debootstrap');
    const d = t.definition.debootstrap!;
    assert.deepEqual(d.packages.filter((p) => !minimal.definition.debootstrap!.packages.includes(p)), ['cloud-init', 'python3-cffi-backend']);
    for (const p of minimal.definition.debootstrap!.packages) assert.ok(d.packages.includes(p), p);
    for (const m of ['sr_mod', 'virtio_scsi']) assert.ok(d.initramfs_modules.includes(m), `${m}: /dev/sr0 exists when ds-identify runs`);
    assert.equal(d.boot_without_initrd, false, 'the seed CD\'s driver must be loaded before ds-identify: it keeps its initrd');
    const scripts = t.definition.post_install.map((p) => p.script!);
    assert.deepEqual(scripts, ['../debian-12-minimal/scripts/fast-boot.sh', '../debian-12-minimal/scripts/slim.sh', '_scripts/vagrant-user.sh', '_scripts/sshd.sh', 'scripts/cloud-init.sh', '_scripts/cleanup.sh']);
    const files = scripts.map((s) => resolveTemplateFile(t.dir, s));
    assert.equal(files[0], path.join(builtinTemplatesDir, 'debian-12-minimal', 'scripts', 'fast-boot.sh'));
    const config = await readFile(files[4]!, 'utf8');
    for (const line of ['datasource_list: [NoCloud, Ec2, None]', 'strict_id: true', 'name: vagrant', 'lock_passwd: false', 'ssh_deletekeys: false', 'ssh_genkeytypes: []']) {
      assert.ok(config.includes(line), line);
    }
  });

  test('--var values override defaults and are rendered into the fields that use them', async () => {
    const t = await loadTemplate(path.join(builtinTemplatesDir, 'debian-12-minimal'), {disk: '20', hostname: 'ci-1', mirror: 'http://10.0.0.1/debian'});
    assert.equal(diskGiB(t.definition.disk), 20);
    assert.equal(t.definition.debootstrap!.hostname, 'ci-1');
    assert.equal(t.definition.debootstrap!.mirror, 'http://10.0.0.1/debian');
    assert.deepEqual(t.variables, {mirror: 'http://10.0.0.1/debian', hostname: 'ci-1', disk: '20'});
  });

  test('an unknown --var is an error that lists the declared variables', async () => {
    await rejectsWith(loadTemplate(path.join(builtinTemplatesDir, 'debian-12-minimal'), {hostnmae: 'x'}), 'ERR_TEMPLATE_VAR', /"hostnmae"[\s\S]*Declared variables: mirror, hostname, disk/);
  });

  test('a variable without default needs a --var and the hint shows the flag', async () => {
    const dir = await writeTemplate(tmp.dir, 'needs-var', 'method: box\nsource: box base\nvariables:\n  password: {sensitive: true}\nssh: {password: "{{password}}"}\n');
    await rejectsWith(loadTemplate(dir), 'ERR_TEMPLATE_VAR', /--var password=VALUE/);
    const t = await loadTemplate(dir, {password: 's3cret'});
    assert.equal(t.definition.ssh.password, 's3cret');
    assert.deepEqual(t.sensitive, ['password']);
  });

  test('a string that uses an undeclared variable is an error naming the field', async () => {
    const dir = await writeTemplate(tmp.dir, 'undeclared', 'method: box\nsource: box base\nshutdown_command: "echo {{nope}}"\n');
    await rejectsWith(loadTemplate(dir), 'ERR_TEMPLATE_RENDER', /shutdown_command.*\{\{nope\}\}/);
  });

  test('template fields render with the same helpers as answer files (eq, default)', async () => {
    const dir = await writeTemplate(tmp.dir, 'helpers', [
      'method: box', 'source: box base',
      'variables:', '  flavor: {default: server}', '  user: {default: ""}',
      'shutdown_command: "{{#if (eq flavor \'server\')}}sudo poweroff{{else}}halt{{/if}} # {{default user \'root\'}}"',
    ].join('\n') + '\n');
    const t = await loadTemplate(dir);
    assert.equal(t.definition.shutdown_command, 'sudo poweroff # root');
  });

  test('boot_command keeps its {{httpIp}} placeholders for the boot step to render', async () => {
    const dir = await writeTemplate(tmp.dir, 'iso-boot', [
      'method: iso',
      'iso: {urls: ["http://example.invalid/x.iso"], checksum: "sha256:abcd"}',
      'boot_command: ["auto url=http://{{httpIp}}:{{httpPort}}/preseed.cfg<enter>"]',
      'boot_wait: 5s',
      'answer_files: [preseed.cfg.hbs]',
      'http_files: [{path: extra.sh, name: x.sh}]',
      '',
    ].join('\n'));
    const t = await loadTemplate(dir);
    assert.equal(t.definition.boot_command[0], 'auto url=http://{{httpIp}}:{{httpPort}}/preseed.cfg<enter>');
    assert.equal(durationMs(t.definition.boot_wait), 5000);
    assert.deepEqual(t.definition.answer_files, [{template: 'preseed.cfg.hbs', name: undefined}]);
    assert.deepEqual(t.definition.http_files, [{path: 'extra.sh', name: 'x.sh'}]);
    assert.equal(t.definition.ssh.username, 'vagrant');
    assert.equal(durationMs(t.definition.ssh.timeout), 30 * 60_000);
  });

  test('every validation error is reported at once with its line and field', async () => {
    const dir = await writeTemplate(tmp.dir, 'broken', [
      'method: debootstrap',       // 1: no debootstrap section
      'cpus: 0',                   // 2
      'disk: lots',                // 3
      'colour: blue',              // 4: unknown field
      '',
    ].join('\n'));
    const error = await rejectsWith(loadTemplate(dir), 'ERR_TEMPLATE_INVALID');
    assert.equal(error.exitCode, 2);
    assert.match(error.message, /template\.yaml:2: cpus:/);
    assert.match(error.message, /template\.yaml:3: disk: expected a size/);
    assert.match(error.message, /unknown field "colour"/);
    assert.match(error.message, /debootstrap: method debootstrap needs a debootstrap/);
  });

  test('a YAML syntax error names the file and line', async () => {
    const dir = await writeTemplate(tmp.dir, 'bad-yaml', 'method: box\nsource: [unclosed\n');
    await rejectsWith(loadTemplate(dir), 'ERR_TEMPLATE_INVALID', /template\.yaml:\d+:\d+: /);
  });

  test('"source: box NAME" is shorthand for a source box', async () => {
    const dir = await writeTemplate(tmp.dir, 'from-box', 'method: box\nsource: box debian-12-minimal\npost_install: [{inline: ["echo hi"]}]\n');
    const t = await loadTemplate(dir);
    assert.equal(t.definition.source!.box, 'debian-12-minimal');
    assert.deepEqual(t.definition.post_install[0].inline, ['echo hi']);
    assert.equal(t.definition.post_install[0].privileged, true);
  });

  test('sizes and durations convert to the units the builders use', () => {
    assert.equal(durationMs('250ms'), 250);
    assert.equal(durationMs('2m'), 120_000);
    assert.equal(durationMs(3), 3000);
    assert.equal(diskGiB('512M'), 1);
    assert.equal(diskGiB('1.5G'), 2);
    assert.equal(diskGiB(8), 8);
    assert.equal(memoryMiB('2G'), 2048);
    assert.equal(memoryMiB(768), 768);
  });

  test('--var flags must be KEY=VALUE and a value may contain "="', () => {
    assert.deepEqual(parseVarFlags(['a=1', 'b=x=y']), {a: '1', b: 'x=y'});
    assert.throws(() => parseVarFlags(['novalue']), /"novalue" is not KEY=VALUE/);
  });
});

describe('template folders', () => {
  let tmp: {dir: string; cleanup: () => Promise<void>};
  before(async () => {
    tmp = await tempDir('box-template-dirs-');
  });
  after(() => tmp.cleanup());

  test('built-in templates are listed and the shared _scripts folder is not a template', () => {
    const names = listTemplates().map((t) => t.name);
    assert.ok(names.includes('debian-12-minimal'));
    assert.ok(!names.includes('_scripts'));
  });

  test('an unknown template name suggests the closest one', () => {
    assert.throws(() => findTemplate('debian-12-minimall'), (error: BoxError) => error.code === 'ERR_TEMPLATE_NOT_FOUND' && /Did you mean "debian-12-minimal"/.test(error.hint!));
  });

  test('a --template-dir template shadows a built-in of the same name and can reuse the built-in _scripts', async () => {
    const dir = await writeTemplate(tmp.dir, 'debian-12-minimal', 'method: box\nsource: box base\npost_install: [_scripts/cleanup.sh]\n');
    const ref = findTemplate('debian-12-minimal', [tmp.dir]);
    assert.equal(ref.dir, dir);
    assert.equal(resolveTemplateFile(dir, '_scripts/cleanup.sh'), path.join(builtinTemplatesDir, '_scripts', 'cleanup.sh'));
    assert.throws(() => resolveTemplateFile(dir, 'missing.sh'), /missing\.sh" named by template/);
  });

  test('a template can be given as a path to its folder', async () => {
    const dir = await writeTemplate(tmp.dir, 'by-path', 'method: box\nsource: box base\n');
    assert.equal(findTemplate(dir).dir, dir);
    assert.throws(() => findTemplate(tmp.dir + '/'), /has no template\.yaml/);
  });

  test('a --template-dir that does not exist is a usage error', () => {
    assert.throws(() => listTemplates([path.join(tmp.dir, 'nope')]), /--template-dir ".*nope" does not exist/);
  });
});
