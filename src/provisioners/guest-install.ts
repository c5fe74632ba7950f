import {runGuestScript} from '../communicators/run-script.js';
import {shellQuote} from '../communicators/ssh/remote-command.js';
import {BoxError} from '../core/errors.js';
import {provisionerFailed} from './failure.js';
import {guestOutput} from './guest-workdir.js';
import {OutputLines} from './output-lines.js';
import type {ProvisionContext} from './provisioner.js';

/** A tool an in-guest provisioner installs from the guest's packages when it is missing. */
export interface GuestTool {
  /** What it is called in messages (ansible, puppet). */
  tool: string;
  /** The program that must be in the guest (ansible-playbook, puppet, or a path). */
  program: string;
  /** Package names per package manager. */
  packages: {apt: string; dnf: string; zypper: string};
}

/**
 * The install script: apt-get (Debian, Ubuntu), dnf (Fedora, RHEL) or zypper (openSUSE).
 * Exit 3: none of them.
 */
export function installScript(t: GuestTool): string {
  return [
    'set -e',
    'if command -v apt-get >/dev/null 2>&1; then',
    '  export DEBIAN_FRONTEND=noninteractive',
    '  apt-get update -q',
    `  apt-get install -y -q --no-install-recommends ${t.packages.apt}`,
    'elif command -v dnf >/dev/null 2>&1; then',
    `  dnf install -y ${t.packages.dnf}`,
    'elif command -v zypper >/dev/null 2>&1; then',
    `  zypper --non-interactive install ${t.packages.zypper}`,
    'else',
    `  echo "no package manager box knows (apt-get, dnf, zypper): install ${t.tool} in the box, or bake it into the box" >&2`,
    '  exit 3',
    'fi',
    '',
  ].join('\n');
}

/**
 * Makes sure `t.program` is in the guest: when missing, installs it as root with the guest's
 * package manager (output streamed), or refuses when `install` is false (the user's choice, or
 * a binary_path box must not install over).
 */
export async function ensureGuestTool(ctx: ProvisionContext, t: GuestTool, run: {type: string; name: string; install: boolean; refusedHint: string}): Promise<void> {
  if ((await guestOutput(ctx.comm, `command -v ${shellQuote(t.program)}`, ctx.signal)).code === 0) return;
  if (!run.install) {
    throw new BoxError('ERR_PROVISION_FAILED', `Provisioner "${run.name}" (${run.type}): ${t.program} is not installed in ${ctx.machine}.`, {hint: run.refusedHint});
  }
  ctx.ui.info(`${ctx.machine}: installing ${t.tool} with the guest's package manager`);
  const lines = new OutputLines((line) => ctx.ui.output(ctx.outputPrefix ?? '│', line));
  const code = await runGuestScript(ctx.comm, {text: installScript(t)}, {privileged: true, signal: ctx.signal, prefix: `box-${t.tool}-install`, onOutput: (s, d) => lines.push(s, d)}).finally(() => lines.flush());
  if (code !== 0) throw provisionerFailed({type: run.type, name: run.name, exitCode: code, task: `installing ${t.tool}`, outputTail: lines.tail()});
}
