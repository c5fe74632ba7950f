import {setTimeout as sleep} from 'node:timers/promises';
import {BoxError, InterruptedError} from '../../../core/errors.js';
import {tailFile} from '../../../core/tail-file.js';
import type {Step} from '../../../core/steps.js';
import {parseBootCommand} from '../../boot-command.js';
import {typeOverQmp} from '../../qmp-keys.js';
import {renderString} from '../../render.js';
import {durationMs, type LoadedTemplate} from '../../template.js';
import type {BuildState} from '../index.js';
import {iso} from './state.js';

/** The boot command with variables and the HTTP address filled in (what will be typed). */
export function renderBootCommand(template: LoadedTemplate, http: {httpIp: string; httpPort: number | string}): string[] {
  return template.definition.boot_command.map((line, i) => renderString(line, {...template.variables, ...http}, `boot_command[${i}]`));
}

/**
 * Parses the boot command as it will be typed (an HTTP port stands in), so that an unknown key
 * or an untypable character is a usage error at --dry-run, `template show` and before the
 * build boots anything, not minutes later at the boot prompt.
 */
export function checkBootCommand(template: LoadedTemplate): void {
  parseBootCommand(renderBootCommand(template, {httpIp: '10.0.2.2', httpPort: 8000}));
}

/** Step: waits `boot_wait` for the installer's boot prompt to show up. */
export const bootWaitStep: Step<BuildState> = {
  name: 'boot-wait',
  async run(state, signal) {
    const ms = durationMs(state.template.definition.boot_wait);
    await sleep(ms, undefined, {signal}).catch(() => { throw new InterruptedError(); });
  },
};

/** Step: types the boot command over QMP, one key every `boot_key_interval`. */
export const typeBootCommandStep: Step<BuildState> = {
  name: 'type-boot-command',
  async run(state, signal) {
    const d = iso(state);
    const lines = renderBootCommand(state.template, {httpIp: d.httpIp, httpPort: d.server!.port});
    const actions = parseBootCommand(lines);
    const interval = durationMs(state.template.definition.boot_key_interval);
    // Secrets can be part of a boot command (a password on the kernel line): never log them.
    const shown = state.template.sensitive.reduce((text, k) => {
      const value = state.template.variables[k];
      return value ? text.replaceAll(value, '********') : text;
    }, lines.join(''));
    state.ui.info(`typing ${actions.filter((a) => a.kind !== 'wait').length} keys (${interval} ms apart): ${shown}`);
    await typeOverQmp(d.qmp!, actions, {keyIntervalMs: interval, signal});
  },
};

/**
 * Step: waits until the installer fetched its answer file from the build HTTP server. This
 * is where network problems show up (veewee users know it well), so the timeout message
 * names firewalls and guest networks.
 */
export const waitForAnswerFetchStep: Step<BuildState> = {
  name: 'wait-for-answer-fetch',
  async run(state, signal) {
    const t = state.template.definition;
    const d = iso(state);
    const wanted = t.answer_wait_for ?? d.rendered?.[0]?.name;
    if (!wanted || t.answer_media === 'cdrom') return;
    // A VM that dies (bad ISO, not enough memory) must not look like a slow network.
    const controller = new AbortController();
    const vmExit = d.qemu!.then(async () => {
      if (controller.signal.aborted) return;
      const tail = await tailFile(d.serialLog!);
      throw new BoxError('ERR_QEMU_EXITED', `The build VM exited before the installer fetched ${wanted}.${tail ? ` Last lines of ${d.serialLog}:\n${tail}` : ''}`, {
        hint: 'Check the ISO, the boot command and the memory setting; run with --on-error abort to keep the work folder.',
      });
    });
    try {
      await Promise.race([d.server!.waitForFetch(wanted, {timeoutMs: durationMs(t.answer_fetch_timeout), signal}), vmExit]);
    } finally {
      controller.abort();
      vmExit.catch(() => undefined);
    }
    state.ui.success(`the installer fetched ${wanted}`);
  },
};
