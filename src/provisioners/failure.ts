import {BoxError} from '../core/errors.js';

export interface ProvisionerFailure {
  /** The provisioner's type (shell, ansible...). */
  type: string;
  /** Its label: the Boxfile `name`, else what describes it (the script, the playbook). */
  name: string;
  /** The tool's exit code. */
  exitCode: number;
  /** What failed inside the tool when it says so (an ansible task, a puppet resource). */
  task?: string;
  /** Where it failed (an inventory host), when the tool says so. */
  host?: string;
  /** The last lines of its output. */
  outputTail: readonly string[];
  hint?: string;
}

/**
 * The one error every provisioner fails with (ERR_PROVISION_FAILED, exit 1): which provisioner
 * (name and type), what failed inside the tool when it reports it, the tool's exit code, and
 * the last lines of output (also in `details` for --json).
 */
export function provisionerFailed(f: ProvisionerFailure): BoxError {
  const where = f.task ? ` at ${f.task}${f.host ? ` on ${f.host}` : ''}` : '';
  const tail = f.outputTail.length > 0
    ? `\nLast ${f.outputTail.length} lines of output:\n${f.outputTail.map((l) => `  ${l}`).join('\n')}`
    : ' It printed nothing.';
  return new BoxError('ERR_PROVISION_FAILED', `Provisioner "${f.name}" (${f.type}) failed${where}: exit code ${f.exitCode}.${tail}`, {
    hint: f.hint ?? 'Fix it, then run `box provision` to run the provisioners again.',
    details: {provisioner: f.type, name: f.name, exitCode: f.exitCode, ...(f.task ? {task: f.task} : {}), ...(f.host ? {host: f.host} : {}), outputTail: [...f.outputTail]},
  });
}
