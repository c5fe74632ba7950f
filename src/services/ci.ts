import {mkdir} from 'node:fs/promises';
import path from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import type {CiTest} from '../boxfile/project.js';
import {runGuestScript} from '../communicators/run-script.js';
import {shellQuote} from '../communicators/ssh/remote-command.js';
import {BoxError, errorMessage, InterruptedError, isAbortError} from '../core/errors.js';
import {OutputLines} from '../provisioners/output-lines.js';
import {collectArtifacts, type CollectedArtifacts} from './ci/artifacts.js';
import {deriveInstanceId} from './ci/instance-id.js';
import {junitXml, type JunitCase, type JunitSuite} from './ci/junit.js';
import {destroy} from './destroy.js';
import {openCommunicator, openMachines, type LifecycleOptions, type MachineHandle} from './lifecycle/machines.js';
import {runMachines, type ConcurrencyOptions} from './lifecycle/run-machines.js';
import {up} from './up.js';

export type DestroyPolicy = 'always' | 'passing' | 'never';

export interface CiOptions extends Omit<LifecycleOptions, 'names' | 'instance'>, ConcurrencyOptions {
  /** --id (or BOX_INSTANCE); else derived from the CI's job variables in `env`. */
  id?: string;
  processEnv: NodeJS.ProcessEnv;
  /** `box ci -- COMMAND...`: run instead of every machine's `tests:`. */
  command?: string;
  destroy: DestroyPolicy;
  artifactsDir: string;
  /** The JUnit file (default <artifactsDir>/junit.xml). */
  junit?: string;
  /** Bounds the whole job (up, tests, artifacts); the machines are destroyed after it. */
  timeoutMs?: number;
}

export interface CiTestResult extends JunitCase {
  command: string;
}

export interface CiMachineResult {
  name: string;
  target: string;
  up: {ok: boolean; durationMs: number; error?: Record<string, unknown>};
  tests: CiTestResult[];
  artifacts?: CollectedArtifacts;
}

export interface CiResult {
  instance: string;
  /** Where the instance id came from (--id, the CI variables, random). */
  instanceFrom: string;
  project: string;
  passed: boolean;
  /** What box ci exits with: 0, the first failing command's code, 1 when an up failed. */
  exitCode: number;
  destroyPolicy: DestroyPolicy;
  destroyed: boolean;
  /** When machines are kept (--destroy passing|never, or a destroy that failed): how to remove them. */
  destroyCommand?: string;
  junit: string;
  artifactsDir: string;
  durationMs: number;
  machines: CiMachineResult[];
}

/** The bytes of a command's output kept for the report (its end: where failures show). */
const OUTPUT_TAIL_BYTES = 64 * 1024;
/** Exit code of a job that ran out of --timeout (as GNU timeout). */
export const TIMEOUT_EXIT_CODE = 124;

/**
 * `box ci`: one throwaway run of the project for a CI job, as test-kitchen's `kitchen test`.
 * The machines are a fresh instance of the project (their own state, names and locks), so
 * concurrent jobs never meet. up (sync and provisioners on first up) → the test commands in
 * each guest → artifacts back to the host (after failures too) → JUnit report → destroy per
 * policy → the tests' status. A signal or --timeout stops the job where it is and still
 * destroys what it made.
 */
export async function ci(options: CiOptions): Promise<CiResult> {
  const t0 = Date.now();
  const {id, from} = deriveInstanceId(options.id, options.processEnv);
  const junitFile = path.resolve(options.cwd, options.junit ?? path.join(options.artifactsDir, 'junit.xml'));
  const artifactsDir = path.resolve(options.cwd, options.artifactsDir);
  // The job's own signal: the command's (SIGINT/SIGTERM) or --timeout, whichever comes first.
  const job = new AbortController();
  let timedOut = false;
  const onAbort = () => job.abort(options.signal.reason);
  if (options.signal.aborted) onAbort();
  else options.signal.addEventListener('abort', onAbort, {once: true});
  const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => {
    timedOut = true;
    options.ui.warn(`box ci: the job ran out of its --timeout (${formatDuration(options.timeoutMs!)}); stopping it and destroying its machines.`);
    job.abort(new InterruptedError(`Timed out after ${formatDuration(options.timeoutMs!)}`, 'SIGTERM'));
  }, options.timeoutMs);
  const base: Omit<LifecycleOptions, 'signal'> = {
    cwd: options.cwd, boxfile: options.boxfile, env: options.env, target: options.target, instance: id, names: [], ui: options.ui,
  };
  options.ui.info(`box ci: instance ${id} (from ${from})`);
  const {project, handles} = await openMachines({...base, signal: job.signal});
  const machines = new Map<string, CiMachineResult>(handles.map((h) => [h.machine.name, {name: h.machine.name, target: h.machine.target, up: {ok: false, durationMs: 0}, tests: []}]));
  const startedAt = new Date().toISOString();
  const kept: string[] = [];
  let destroyed = false;
  let result: CiResult | undefined;
  try {
    await bringUp(base, options, job.signal, machines, t0);
    const ready = handles.filter((h) => machines.get(h.machine.name)!.up.ok);
    const outcomes = await runMachines(ready, {parallel: options.parallel, order: 'dependencies-first', signal: job.signal}, async (handle) => {
      const entry = machines.get(handle.machine.name)!;
      const tests = options.command === undefined ? handle.machine.tests : [{name: options.command, run: options.command, privileged: false}];
      await testMachine(handle, tests, entry, id, job.signal);
      if (!job.signal.aborted && handle.machine.artifacts.length > 0) {
        handle.ctx.ui.stage('artifacts', `${handle.machine.name} → ${path.relative(options.cwd, path.join(artifactsDir, handle.machine.name)) || '.'}`);
        entry.artifacts = await collectArtifactsOf(handle, artifactsDir, job.signal);
      }
    });
    // A guest that could not even be reached for its tests is a failed machine, never a pass.
    for (const outcome of outcomes) {
      if (outcome.ok || job.signal.aborted) continue;
      machines.get(outcome.handle.machine.name)!.tests.push({name: 'tests', command: '', status: 'error', durationMs: 0, message: `could not run the tests: ${errorMessage(outcome.error)}`});
    }
  } finally {
    if (timer) clearTimeout(timer);
    options.signal.removeEventListener('abort', onAbort);
    const entries = [...machines.values()];
    if (entries.every((m) => m.up.ok && m.tests.length === 0) && !job.signal.aborted) {
      options.ui.warn('box ci: no test ran: give the command after `box ci --`, or list `tests:` in the Boxfile.');
    }
    const exitCode = jobExitCode(entries);
    const passed = exitCode === 0 && !job.signal.aborted;
    const shouldDestroy = options.destroy === 'always' || (options.destroy === 'passing' && passed);
    // Never with the job's signal: after a SIGTERM or the timeout, destroying is the point.
    if (shouldDestroy) {
      try {
        await destroy({...base, signal: new AbortController().signal, parallel: options.parallel});
        destroyed = true;
      } catch (error) {
        options.ui.warn(`box ci: could not destroy the machines of instance ${id}: ${errorMessage(error)}`);
      }
    }
    if (!destroyed) kept.push(...entries.map((m) => m.name));
    const destroyCommand = destroyed ? undefined : destroyCommandFor(id, options);
    result = {
      instance: id, instanceFrom: from, project: project.name, passed, exitCode: job.signal.aborted ? exitCode || 1 : exitCode,
      destroyPolicy: options.destroy, destroyed, ...(destroyCommand ? {destroyCommand} : {}),
      junit: junitFile, artifactsDir, durationMs: Date.now() - t0, machines: entries,
    };
    await writeReport(result, project.name, startedAt, job.signal.aborted ? (timedOut ? 'the job timed out' : 'the job was interrupted') : undefined)
      .catch((error) => options.ui.warn(`box ci: could not write ${junitFile}: ${errorMessage(error)}`));
    if (destroyCommand) options.ui.warn(`box ci: the machines of instance ${id} are kept (--destroy ${options.destroy}${shouldDestroy ? ', but destroying failed' : ''}); remove them with: ${destroyCommand}`);
  }
  return finish(result, options, timedOut);
}

/** After the report: the result when everything passed, else the error that carries it. */
function finish(result: CiResult, options: CiOptions, timedOut: boolean): CiResult {
  if (timedOut) {
    throw Object.assign(new BoxError('ERR_CI_TIMEOUT', `box ci ran out of its --timeout (${formatDuration(options.timeoutMs!)}) and stopped; ${result.destroyed ? 'its machines were destroyed' : 'its machines are kept'}.`, {
      exitCode: TIMEOUT_EXIT_CODE, hint: 'Raise --timeout, or look at the JUnit report for the step that was running.',
    }), {partialResult: {...result}});
  }
  if (options.signal.aborted) {
    const reason = options.signal.reason instanceof BoxError ? options.signal.reason : new InterruptedError();
    reason.partialResult = {...result};
    throw reason;
  }
  if (result.passed && (result.destroyed || options.destroy !== 'always')) return result;
  if (result.passed) {
    throw Object.assign(new BoxError('ERR_CI_DESTROY_FAILED', `The tests passed, but the machines of instance ${result.instance} could not be destroyed.`, {
      hint: `Remove them with: ${result.destroyCommand}`,
    }), {partialResult: {...result}});
  }
  const isFailure = (t: CiTestResult) => t.status === 'failed' || t.status === 'error';
  const failed = result.machines.find((m) => !m.up.ok || m.tests.some(isFailure))!;
  const test = failed.tests.find(isFailure);
  const message = !failed.up.ok
    ? `${failed.name}: up failed: ${String(failed.up.error?.message ?? 'unknown error')}`
    : test!.status === 'failed' ? `${failed.name}: ${JSON.stringify(test!.name)} exited with code ${test!.exitCode}` : `${failed.name}: ${test!.message}`;
  throw Object.assign(new BoxError('ERR_CI_FAILED', message, {
    exitCode: result.exitCode, hint: `The report is in ${result.junit}.${result.destroyCommand ? ` The machines are kept: ${result.destroyCommand}` : ''}`,
  }), {partialResult: {...result}});
}

/** `box up` of the instance: every machine (at once, as depends_on allows); each failure is its own. */
async function bringUp(base: Omit<LifecycleOptions, 'signal'>, options: CiOptions, signal: AbortSignal, machines: Map<string, CiMachineResult>, t0: number): Promise<void> {
  try {
    const result = await up({...base, signal, parallel: options.parallel, destroyOnError: true});
    for (const m of result.machines) Object.assign(machines.get(m.name)!.up, {ok: true, durationMs: m.durationMs});
  } catch (error) {
    const durationMs = Date.now() - t0;
    const entries = (error instanceof BoxError ? error.partialResult?.machines : undefined) as Array<{name: string; durationMs?: number; error?: Record<string, unknown>}> | undefined;
    const own = error instanceof BoxError ? error.toJSON() : {code: 'ERR_UNEXPECTED', message: errorMessage(error)};
    for (const m of machines.values()) {
      const entry = entries?.find((e) => e.name === m.name);
      m.up = entry && !entry.error ? {ok: true, durationMs: entry.durationMs ?? durationMs} : {ok: false, durationMs, error: entry?.error ?? own};
    }
    if (isAbortError(error) || signal.aborted) return;
  }
}

/**
 * Runs the commands in the guest one after another, streamed with the machine's name; the first
 * that fails ends the machine's run (later commands usually need the earlier ones), and the
 * rest are reported as skipped.
 */
async function testMachine(handle: MachineHandle, tests: readonly CiTest[], entry: CiMachineResult, id: string, signal: AbortSignal): Promise<void> {
  const {machine, ctx} = handle;
  let stopped: string | undefined;
  const comm = tests.length > 0 ? await openCommunicator(handle) : undefined;
  try {
    await comm?.waitForReady(Math.max(30, machine.ssh.timeoutSeconds) * 1000, signal);
    for (const test of tests) {
      if (stopped ?? signal.aborted) {
        entry.tests.push({name: test.name, command: test.run, status: 'skipped', durationMs: 0, message: stopped ?? 'the job was stopped before it ran'});
        continue;
      }
      ctx.ui.stage('test', `${machine.name}: ${test.name}`);
      let output = '';
      const lines = new OutputLines((line) => ctx.ui.output(`${machine.name} |`, line));
      const t0 = Date.now();
      try {
        const code = await runGuestScript(comm!, {text: `${test.run}\n`}, {
          privileged: test.privileged, signal, prefix: 'box-ci',
          env: {BOX_CI: '1', BOX_INSTANCE: id, BOX_MACHINE: machine.name},
          onOutput: (stream, data) => {
            lines.push(stream, data);
            output = tail(output + data);
          },
        });
        lines.flush();
        const durationMs = Date.now() - t0;
        if (code === 0) {
          entry.tests.push({name: test.name, command: test.run, status: 'passed', durationMs, exitCode: 0, output});
        } else {
          entry.tests.push({name: test.name, command: test.run, status: 'failed', durationMs, exitCode: code, message: `exited with code ${code}`, output});
          stopped = `${JSON.stringify(test.name)} failed before it`;
          ctx.ui.warn(`${machine.name}: ${test.name} exited with code ${code}`);
        }
      } catch (error) {
        lines.flush();
        const interrupted = isAbortError(error) || signal.aborted;
        entry.tests.push({name: test.name, command: test.run, status: 'error', durationMs: Date.now() - t0, message: interrupted ? 'stopped: the job was interrupted or timed out' : errorMessage(error), output});
        stopped = interrupted ? 'the job was stopped before it ran' : `${JSON.stringify(test.name)} could not run before it`;
      }
    }
  } finally {
    await comm?.close().catch(() => undefined);
  }
}

async function collectArtifactsOf(handle: MachineHandle, dir: string, signal: AbortSignal): Promise<CollectedArtifacts> {
  let comm: Awaited<ReturnType<typeof openCommunicator>>;
  try {
    comm = await openCommunicator(handle);
    await comm.waitForReady(Math.max(30, handle.machine.ssh.timeoutSeconds) * 1000, signal);
  } catch (error) {
    handle.ctx.ui.warn(`${handle.machine.name}: could not collect the artifacts: ${errorMessage(error)}`);
    return {dir: path.join(dir, handle.machine.name), files: 0, missing: [], error: errorMessage(error)};
  }
  try {
    const collected = await collectArtifacts(comm, handle.machine.artifacts, {dir, machine: handle.machine.name, signal, onWarning: (line) => handle.ctx.ui.warn(`${handle.machine.name} artifacts: ${line}`)});
    if (collected.error) handle.ctx.ui.warn(`${handle.machine.name}: could not collect the artifacts: ${collected.error}`);
    else handle.ctx.ui.info(`${handle.machine.name}: ${collected.files} artifact file(s) in ${collected.dir}${collected.missing.length > 0 ? `; nothing matched ${collected.missing.join(', ')}` : ''}`);
    return collected;
  } finally {
    await comm.close().catch(() => undefined);
  }
}

/** The first machine (Boxfile order) that failed decides: 1 for its up, else its failing command's code. */
export function jobExitCode(machines: readonly CiMachineResult[]): number {
  for (const m of machines) {
    if (!m.up.ok) return 1;
    const failed = m.tests.find((t) => t.status === 'failed' || t.status === 'error');
    if (failed) return failed.status === 'failed' && failed.exitCode ? failed.exitCode : 1;
  }
  return 0;
}

function tail(text: string): string {
  return text.length > OUTPUT_TAIL_BYTES ? text.slice(-OUTPUT_TAIL_BYTES) : text;
}

/** The exact command that reaches the kept machines of this instance. */
function destroyCommandFor(id: string, options: CiOptions): string {
  const parts = ['box', 'destroy', '--instance', id, '--force'];
  if (options.boxfile) parts.push('--boxfile', shellQuote(path.resolve(options.cwd, options.boxfile)));
  if (options.env) parts.push('--env', shellQuote(options.env));
  return parts.join(' ');
}

async function writeReport(result: CiResult, project: string, timestamp: string, stoppedBecause: string | undefined): Promise<void> {
  const suites: JunitSuite[] = result.machines.map((m) => {
    const cases: JunitCase[] = [];
    if (!m.up.ok) cases.push({name: 'up', status: 'error', durationMs: m.up.durationMs, message: String(m.up.error?.message ?? stoppedBecause ?? 'up failed')});
    cases.push(...m.tests);
    return {name: m.name, className: `box.${project}.${m.name}`, durationMs: m.up.durationMs + m.tests.reduce((s, t) => s + t.durationMs, 0), timestamp, cases};
  });
  await mkdir(path.dirname(result.junit), {recursive: true});
  await writeFileAtomic(result.junit, junitXml(`box ci ${result.instance}`, suites));
}

export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${ms / 1000}s`;
}
