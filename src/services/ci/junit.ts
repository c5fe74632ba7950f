/**
 * The JUnit XML report of `box ci` (the dialect CI services read: GitHub test reporters,
 * GitLab's artifacts:reports:junit, Jenkins' junit step): one <testsuite> per machine, one
 * <testcase> per machine and command, plus one for a machine whose up failed.
 */

export type CaseStatus = 'passed' | 'failed' | 'error' | 'skipped';

export interface JunitCase {
  name: string;
  status: CaseStatus;
  durationMs: number;
  /** failed: the command's exit code. */
  exitCode?: number;
  /** failed / error / skipped: why. */
  message?: string;
  /** The end of what the command printed (stdout and stderr, as they came). */
  output?: string;
}

export interface JunitSuite {
  name: string;
  /** Dotted class name CI services group by: box.<project>.<machine>. */
  className: string;
  durationMs: number;
  timestamp: string;
  cases: JunitCase[];
}

/**
 * Text as XML 1.0 character data: markup characters escaped, and the characters XML 1.0 cannot
 * hold at all (control characters other than tab, newline and return; lone surrogates; U+FFFE,
 * U+FFFF) written as a visible `\xNN` / `\uNNNN`, since no escape can represent them.
 */
export function xmlText(text: string): string {
  let out = '';
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    if (ch === '&') out += '&amp;';
    else if (ch === '<') out += '&lt;';
    else if (ch === '>') out += '&gt;';
    else if (ch === '"') out += '&quot;';
    else if (ch === '\'') out += '&apos;';
    else if (code === 0x9 || code === 0xA) out += ch;
    else if (code === 0xD) out += '&#13;';
    else if (code < 0x20 || (code >= 0x7F && code <= 0x9F)) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else if ((code >= 0xD800 && code <= 0xDFFF) || code === 0xFFFE || code === 0xFFFF) out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return out;
}

/** Text as an attribute value: also tab and newline as references (a parser turns raw ones into spaces). */
export function xmlAttr(text: string): string {
  return xmlText(text).replaceAll('\t', '&#9;').replaceAll('\n', '&#10;');
}

const seconds = (ms: number): string => (ms / 1000).toFixed(3);

function testcase(suite: JunitSuite, c: JunitCase): string {
  const open = `    <testcase classname="${xmlAttr(suite.className)}" name="${xmlAttr(c.name)}" time="${seconds(c.durationMs)}"`;
  const body: string[] = [];
  if (c.status === 'failed') body.push(`      <failure type="exit-code" message="${xmlAttr(c.message ?? `exited with code ${c.exitCode}`)}">${xmlText(c.output ?? '')}</failure>`);
  else if (c.status === 'error') body.push(`      <error type="error" message="${xmlAttr(c.message ?? 'error')}">${xmlText(c.output ?? '')}</error>`);
  else if (c.status === 'skipped') body.push(`      <skipped message="${xmlAttr(c.message ?? 'not run')}"/>`);
  if (c.output && c.status !== 'skipped') body.push(`      <system-out>${xmlText(c.output)}</system-out>`);
  return body.length === 0 ? `${open}/>` : `${open}>\n${body.join('\n')}\n    </testcase>`;
}

function counts(cases: readonly JunitCase[]) {
  const n = (s: CaseStatus) => cases.filter((c) => c.status === s).length;
  return `tests="${cases.length}" failures="${n('failed')}" errors="${n('error')}" skipped="${n('skipped')}"`;
}

export function junitXml(name: string, suites: readonly JunitSuite[]): string {
  const all = suites.flatMap((s) => s.cases);
  const total = suites.reduce((sum, s) => sum + s.durationMs, 0);
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="${xmlAttr(name)}" ${counts(all)} time="${seconds(total)}">`,
    ...suites.flatMap((s) => [
      `  <testsuite name="${xmlAttr(s.name)}" ${counts(s.cases)} time="${seconds(s.durationMs)}" timestamp="${xmlAttr(s.timestamp)}">`,
      ...s.cases.map((c) => testcase(s, c)),
      '  </testsuite>',
    ]),
    '</testsuites>',
  ];
  return `${lines.join('\n')}\n`;
}
