// The shape of a Boxfile problem and of its field path: shared by the reader (source.ts) and
// the checks (issues.ts) without tying the two into a cycle.
export type IssuePath = Array<string | number>;

/** One problem in a configuration file, as shown to the user and in `details.errors`. */
export interface BoxfileIssue {
  file: string;
  line: number;
  column: number;
  /** Field path such as `machines.web.forwarded_ports[1].host` ('' for the whole file). */
  path: string;
  message: string;
  /** The offending value, printed as `(got VALUE)`; absent for missing and unknown keys. */
  got?: string;
}

export function formatPath(segments: IssuePath): string {
  let out = '';
  for (const segment of segments) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out === '' ? segment : `.${segment}`;
  }
  return out;
}
