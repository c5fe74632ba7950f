import type {Communicator} from '../communicators/communicator.js';
import {shellQuote} from '../communicators/ssh/remote-command.js';
import {BoxError} from '../core/errors.js';

/** Runs `command` in the guest; resolves with its exit code and trimmed stdout. */
export async function guestOutput(comm: Communicator, command: string, signal: AbortSignal): Promise<{code: number; stdout: string}> {
  let stdout = '';
  const code = await comm.exec(command, {signal, onOutput: (stream, data) => { if (stream === 'stdout') stdout += data; }});
  return {code, stdout: stdout.trim()};
}

/**
 * Runs `work` with a fresh /tmp/<prefix>-XXXXXXXX folder in the guest (the in-guest tools'
 * files: playbooks, manifests, cookbooks, configs), removed afterwards whatever happened, also
 * after Ctrl-C, so nothing half-uploaded stays in the guest's /tmp. Root may own files the tool
 * wrote there, hence the sudo fallback.
 */
export async function withGuestWorkdir<T>(comm: Communicator, options: {prefix: string; label: string; signal: AbortSignal}, work: (remote: string) => Promise<T>): Promise<T> {
  const made = await guestOutput(comm, `mktemp -d /tmp/${options.prefix}-XXXXXXXX`, options.signal);
  if (made.code !== 0 || !made.stdout.startsWith(`/tmp/${options.prefix}-`)) {
    throw new BoxError('ERR_PROVISION_FAILED', `${options.label}: could not make a folder in the guest's /tmp (mktemp exit ${made.code}).`);
  }
  const remote = made.stdout;
  try {
    return await work(remote);
  } finally {
    await comm.exec(`rm -rf ${shellQuote(remote)} 2>/dev/null || sudo -n rm -rf ${shellQuote(remote)}`, {timeoutMs: 30_000}).catch(() => undefined);
  }
}
