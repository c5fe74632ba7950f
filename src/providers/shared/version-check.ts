import type {Check} from '../target.js';
import {loadExeca} from '../../core/exec.js';

function firstLine(text: string | null): string {
  return (text ?? '').split('\n')[0].trim();
}

export async function versionCheck(name: string, binary: string, args: string[], hint: string): Promise<Check> {
  // stdout and stderr together: some tools (OpenSSH's `ssh -V`) print their version on stderr.
  const execa = await loadExeca();
  const result = await execa(binary, args, {all: true, reject: false, timeout: 10_000, env: {LANG: 'C'}});
  const out = String(result.all ?? '');
  return result.failed && !out.trim()
    ? {name, ok: false, detail: `${binary} not found on PATH`, hint}
    : {name, ok: true, detail: firstLine(out)};
}
