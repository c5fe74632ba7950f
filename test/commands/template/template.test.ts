import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {cp, readdir, readFile, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {box, boxJson, repoRoot, tempDir} from '../../helpers/cli.js';

describe('box template list|show', () => {
  let tmp: {dir: string; cleanup: () => Promise<void>};
  let userDir: string;

  before(async () => {
    tmp = await tempDir('box-template-cli-');
    userDir = path.join(tmp.dir, 'templates');
    // A user template with a broken kickstart, and one that shadows a built-in name.
    await cp(path.join(repoRoot, 'templates', 'rocky-9'), path.join(userDir, 'broken-ks'), {recursive: true});
    await writeFile(path.join(userDir, 'broken-ks', 'ks.cfg.hbs'), 'lang en_US\n%post\necho never closed\n');
    await cp(path.join(repoRoot, 'templates', 'debian-12'), path.join(userDir, 'debian-12'), {recursive: true});
    // A boot command with a typo in a key name.
    await cp(path.join(repoRoot, 'templates', 'debian-12'), path.join(userDir, 'bad-keys'), {recursive: true});
    const yaml = path.join(userDir, 'bad-keys', 'template.yaml');
    await writeFile(yaml, (await readFile(yaml, 'utf8')).replace('<enter>', '<entr>'));
  });

  after(() => tmp.cleanup());

  test('list --json gives every built-in template with name, method, version, origin and folder', async () => {
    const {result, json} = await boxJson(['template', 'list'], {boxHome: tmp.dir});
    assert.equal(result.exitCode, 0, String(result.stderr));
    const names = json.templates.map((t: {name: string}) => t.name);
    for (const n of ['centos-stream-9', 'rocky-9', 'debian-12', 'ubuntu-24.04', 'opensuse-leap-15.6', 'windows-server-2022']) assert.ok(names.includes(n), n);
    const rocky = json.templates.find((t: {name: string}) => t.name === 'rocky-9');
    assert.deepEqual(Object.keys(rocky).sort(), ['aliases', 'description', 'dir', 'method', 'name', 'origin', 'os', 'version']);
    assert.deepEqual(rocky.aliases, ['rocky']);
    const aliases = Object.fromEntries(json.templates.filter((t: {aliases: string[]}) => t.aliases.length > 0).map((t: {name: string; aliases: string[]}) => [t.aliases.join(','), t.name]));
    assert.deepEqual(aliases, {centos: 'centos-stream-9', debian: 'debian-12', opensuse: 'opensuse-leap-15.6', rocky: 'rocky-9', ubuntu: 'ubuntu-24.04', windows: 'windows-server-2022'});
    assert.deepEqual(json.templates.find((t: {name: string}) => t.name === 'debian-12-minimal').aliases, []);
    assert.equal(rocky.method, 'iso');
    assert.equal(rocky.origin, 'builtin');
  });

  test('list with --template-dir shows user templates first, shadowing built-ins of the same name', async () => {
    const {json} = await boxJson(['template', 'list', '--template-dir', userDir], {boxHome: tmp.dir});
    const debian = json.templates.filter((t: {name: string}) => t.name === 'debian-12');
    assert.equal(debian.length, 1);
    assert.equal(debian[0].origin, userDir);
    assert.equal(json.templates[0].origin, userDir);
  });

  test('list prints a table on stdout without --json', async () => {
    const result = await box(['template', 'list'], {boxHome: tmp.dir});
    assert.match(String(result.stdout), /^NAME\s+ALIASES\s+METHOD\s+VERSION\s+ORIGIN\s+DESCRIPTION/);
    assert.match(String(result.stdout), /\nubuntu-24\.04\s+ubuntu\s+iso\s+24\.04\.\d+\s+builtin/);
    assert.match(String(result.stdout), /\ndebian-12-minimal\s+-\s+debootstrap\s/);
  });

  test('show --json gives variables (secrets masked), the rendered boot command and checked answer files', async () => {
    const {result, json} = await boxJson(['template', 'show', 'debian-12', '--render', '--var', 'password=Hunter2-secret'], {boxHome: tmp.dir});
    assert.equal(result.exitCode, 0, String(result.stderr));
    assert.equal(json.method, 'iso');
    assert.match(json.source.iso.checksum, /^file:https:\/\/cdimage\.debian\.org\//);
    assert.deepEqual(json.variables.find((v: {name: string}) => v.name === 'password'), {name: 'password', value: '********', default: '********', description: 'Password of root and of the vagrant user.', sensitive: true});
    assert.match(json.bootCommand.join(''), /url=http:\/\/10\.0\.2\.2:HTTP_PORT\/preseed\.cfg hostname=debian-12 /);
    assert.equal(json.answerFiles.length, 1);
    assert.deepEqual({...json.answerFiles[0], content: undefined}, {name: 'preseed.cfg', template: 'preseed.cfg.hbs', kind: 'preseed', checker: 'debconf-set-selections --checkonly', ok: true, problems: [], content: undefined});
    assert.match(json.answerFiles[0].content, /passwd\/root-password password \*{8}/);
    assert.ok(!String(result.stdout).includes('Hunter2-secret'), 'the secret never reaches the output');
  });

  test('show exits 1 and lists the problems when an answer file fails its check', async () => {
    const {result, json} = await boxJson(['template', 'show', 'broken-ks', '--template-dir', userDir], {boxHome: tmp.dir});
    assert.equal(result.exitCode, 1);
    assert.equal(json.answerFiles[0].ok, false);
    assert.ok(json.answerFiles[0].problems.some((p: string) => /section %post \(line 2\) is not closed/.test(p)));
  });

  test('show of an unknown template is a usage error that suggests the closest name', async () => {
    const result = await box(['template', 'show', 'rocky-8'], {boxHome: tmp.dir});
    assert.equal(result.exitCode, 2);
    assert.match(String(result.stderr), /No template named "rocky-8"/);
    assert.match(String(result.stderr), /Did you mean "rocky-9"/);
  });

  test('box build --dry-run of an installer template prints the plan and rendered files and creates nothing', async () => {
    const home = path.join(tmp.dir, 'home-dry');
    const out = path.join(tmp.dir, 'out-dry');
    const result = await box(['build', 'ubuntu-24.04', '--dry-run', '--output', out], {boxHome: home, cwd: tmp.dir});
    assert.equal(result.exitCode, 0, String(result.stderr));
    const stderr = String(result.stderr);
    assert.match(stderr, /installer ISO https:\/\/releases\.ubuntu\.com\/24\.04\.\d+\/ubuntu-24\.04\.\d+-live-server-amd64\.iso/);
    assert.match(stderr, /boot command: e<wait><down><down><down><end> autoinstall ds=nocloud-net\\;s=http:\/\/10\.0\.2\.2:HTTP_PORT\/ <f10>/);
    assert.match(stderr, /answer file user-data:\n\s+\| #cloud-config/);
    assert.match(stderr, /password: "\*{8}"/);
    assert.match(stderr, /wait up to 10m for the installer to fetch user-data/);
    const created = (await readdir(tmp.dir)).filter((f) => f === 'home-dry' || f === 'out-dry' || f === 'output');
    assert.deepEqual(created, [], 'no BOX_HOME data, no output folder');
  });
  test('a boot command with an unknown key fails show and --dry-run with exit 2, before anything boots', async () => {
    const show = await box(['template', 'show', 'bad-keys', '--template-dir', userDir], {boxHome: tmp.dir});
    assert.equal(show.exitCode, 2);
    assert.match(String(show.stderr), /Unknown key <entr> in boot_command/);
    const dry = await box(['build', 'bad-keys', '--template-dir', userDir, '--dry-run', '--output', path.join(tmp.dir, 'out-bad')], {boxHome: tmp.dir, cwd: tmp.dir});
    assert.equal(dry.exitCode, 2);
    assert.match(String(dry.stderr), /Unknown key <entr>/);
  });
});
