/** One host's line of ansible's PLAY RECAP. */
export interface RecapEntry {
  ok: number;
  changed: number;
  unreachable: number;
  failed: number;
  skipped: number;
  rescued: number;
  ignored: number;
}

/**
 * Reads ansible-playbook's default output as it streams, line by line: the task that runs
 * (`TASK [name] ***`), the first task that failed and on which host (`fatal: [web]: FAILED!`,
 * `failed: [web] (item=...)`, `fatal: [web]: UNREACHABLE!`), and the PLAY RECAP per host.
 */
export class AnsibleOutput {
  private task?: string;
  failedTask?: string;
  failedHost?: string;
  readonly recap: Record<string, RecapEntry> = {};
  private inRecap = false;

  line(text: string): void {
    const task = /^(?:TASK|RUNNING HANDLER) \[(.+?)\] \*+\s*$/.exec(text);
    if (task) {
      this.task = task[1];
      return;
    }
    if (/^PLAY RECAP \*+/.test(text)) {
      this.inRecap = true;
      return;
    }
    const failed = /^(?:fatal|failed): \[([^\]]+)\]/.exec(text);
    if (failed && this.failedTask === undefined) {
      this.failedTask = this.task ?? '(before any task)';
      this.failedHost = failed[1]!.split(' -> ')[0];
      return;
    }
    if (this.inRecap) {
      const entry = /^(\S+)\s+:\s+(.*)$/.exec(text);
      if (!entry) return;
      const counts = Object.fromEntries([...entry[2]!.matchAll(/(\w+)=(\d+)/g)].map((m) => [m[1], Number(m[2])]));
      this.recap[entry[1]!] = {
        ok: counts.ok ?? 0, changed: counts.changed ?? 0, unreachable: counts.unreachable ?? 0, failed: counts.failed ?? 0,
        skipped: counts.skipped ?? 0, rescued: counts.rescued ?? 0, ignored: counts.ignored ?? 0,
      };
    }
  }
}
