// Installer builds (method: iso): costs of the pieces that run on every build, measured for
// real: boot-command parsing, rendering + syntax-checking every installer template's answer
// files, the answer server's latency, and typing speed over QMP into a real (guest-less) QEMU.
// BENCH_INSTALLER=1 also times the installer half end to end (boot the Debian netboot ISO under
// TCG, type, until the preseed is fetched and the mirror check starts): about 2-3 minutes.
import {mkdtempSync, readFileSync, rmSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {execa} from 'execa';
import got from 'got';
import {parseBootCommand} from '../src/builder/boot-command.js';
import {BuildHttpServer} from '../src/builder/http-server.js';
import {renderTemplateAnswers} from '../src/builder/methods/iso/answers.js';
import {renderBootCommand} from '../src/builder/methods/iso/keys.js';
import {typeOverQmp} from '../src/builder/qmp-keys.js';
import {loadTemplate} from '../src/builder/template.js';
import {listTemplates} from '../src/builder/templates-dir.js';
import {QmpClient} from '../src/providers/qemu/qmp.js';

const median = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const round = (n: number, d = 2): number => Number(n.toFixed(d));
const result: Record<string, unknown> = {};
const tmp = mkdtempSync(path.join(os.tmpdir(), 'box-bench-installer-'));

try {
  // 1. Parse: the longest built-in boot command, 2000 times.
  const debian = await loadTemplate(listTemplates().find((t) => t.name === 'debian-12')!.dir);
  const command = renderBootCommand(debian, {httpIp: '10.0.2.2', httpPort: 8080});
  const samples: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const t0 = performance.now();
    parseBootCommand(command);
    samples.push(performance.now() - t0);
  }
  result.parse_debian_boot_command_us = round(median(samples) * 1000, 1);
  result.debian_boot_command_keys = parseBootCommand(command).filter((a) => a.kind !== 'wait').length;

  // 2. Render + check every installer template (what --dry-run and the render-answers step do).
  const render: Record<string, number> = {};
  for (const ref of listTemplates()) {
    const t = await loadTemplate(ref.dir);
    if (t.definition.method !== 'iso') continue;
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      await renderTemplateAnswers(t, {httpIp: '10.0.2.2', httpPort: 8080});
      times.push(performance.now() - t0);
    }
    render[ref.name] = round(median(times), 1);
  }
  result.render_and_check_ms = render;

  // 3. Answer server: GET latency over loopback.
  const server = new BuildHttpServer({files: new Map([['preseed.cfg', readFileSync(path.join(debian.dir, 'preseed.cfg.hbs'))]])});
  const port = await server.start();
  const gets: number[] = [];
  for (let i = 0; i < 100; i++) {
    const t0 = performance.now();
    await got(`http://127.0.0.1:${port}/preseed.cfg`);
    gets.push(performance.now() - t0);
  }
  await server.stop();
  result.http_get_median_ms = round(median(gets));

  // 4. Typing over QMP into a real QEMU: keys per second at 0 ms and at the default 20 ms interval.
  const socket = path.join(tmp, 'qmp.sock');
  const qemu = execa('qemu-system-x86_64', ['-machine', 'pc', '-accel', 'tcg', '-m', '64', '-display', 'none', '-nodefaults', '-qmp', `unix:${socket},server=on,wait=off`], {reject: false});
  let qmp: QmpClient | undefined;
  for (let i = 0; i < 50 && !qmp; i++) {
    qmp = await QmpClient.connect(socket, 2000).catch(async () => { await new Promise((r) => setTimeout(r, 100)); return undefined; });
  }
  const actions = parseBootCommand('install auto=true priority=critical url=http://10.0.2.2:8080/preseed.cfg');
  for (const interval of [0, 20]) {
    const t0 = performance.now();
    await typeOverQmp(qmp!, actions, {keyIntervalMs: interval});
    const seconds = (performance.now() - t0) / 1000;
    result[`qmp_keys_per_s_interval_${interval}ms`] = Math.round(actions.length / seconds);
  }
  qmp!.close();
  qemu.kill('SIGKILL');
  await qemu;

  // 5. Optional: the installer half end to end (in-process build service, Ctrl-C by abort signal).
  if (process.env.BENCH_INSTALLER === '1') {
    const {makeInstallerIso} = await import('../test/fixtures/installer-iso/make-iso.js');
    const {buildBox} = await import('../src/services/build.js');
    const {Ui} = await import('../src/core/ui.js');
    const iso = await makeInstallerIso(path.join(tmp, 'netboot.iso'));
    process.env.BOX_HOME = path.join(tmp, 'home');
    const controller = new AbortController();
    let log = '';
    const marks: Record<string, number> = {};
    const t0 = performance.now();
    const since = (): number => Math.round((performance.now() - t0) / 100) / 10;
    const stream = {isTTY: false, write: (text: string) => {
      log += text;
      if (!marks.typed_s && /typing \d+ keys/.test(log)) marks.typed_s = since();
      if (!marks.preseed_fetched_s && /GET \/preseed\.cfg 200/.test(log)) marks.preseed_fetched_s = since();
      return true;
    }} as unknown as NodeJS.WriteStream;
    const build = buildBox({
      template: path.resolve(import.meta.dirname, '..', 'test', 'fixtures', 'installer-iso', 'template'),
      vars: {iso_path: iso.path, iso_sha256: iso.sha256},
      outputDir: path.join(tmp, 'out'), workRoot: path.join(tmp, 'work'), ui: new Ui({stream}), signal: controller.signal,
    });
    let settled = false;
    const done = build.then(() => undefined, (error: Error) => error).finally(() => { settled = true; });
    const serial = (): string => { const m = /serial log: (\S+)/.exec(log); try { return m ? readFileSync(m[1], 'utf8') : ''; } catch { return ''; } };
    while (!settled && !/Checking the Debian archive mirror/.test(serial()) && performance.now() - t0 < 8 * 60_000) await new Promise((r) => setTimeout(r, 500));
    if (settled) throw new Error(`the build ended early: ${String(await done)}\n${log}`);
    marks.mirror_check_s = since();
    const t1 = performance.now();
    controller.abort();
    await done;
    marks.cancel_cleanup_s = Math.round((performance.now() - t1) / 100) / 10;
    result.installer_half = marks;
  }
} finally {
  rmSync(tmp, {recursive: true, force: true});
}
console.log(JSON.stringify(result));
