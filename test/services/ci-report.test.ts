/** The parts of `box ci` that need no machine: the instance id, the JUnit XML, the exit code. */
import assert from 'node:assert/strict';
import {execFileSync} from 'node:child_process';
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {describe, test} from 'node:test';
import {jobExitCode, type CiMachineResult} from '../../src/services/ci.js';
import {deriveInstanceId} from '../../src/services/ci/instance-id.js';
import {junitXml, xmlText} from '../../src/services/ci/junit.js';

/** Parses with python's expat (strict XML 1.0) and returns what it read back. */
function parseXml(xml: string): {failure: string; out: string; name: string; message: string} {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'box-junit-'));
  try {
    writeFileSync(path.join(dir, 'r.xml'), xml);
    const script = 'import sys, json, xml.etree.ElementTree as E\nr = E.parse(sys.argv[1]).getroot()\nc = r.find("testsuite/testcase")\nf = c.find("failure")\nprint(json.dumps({"failure": f.text or "", "message": f.get("message"), "out": c.find("system-out").text or "", "name": c.get("name")}))';
    return JSON.parse(execFileSync('python3', ['-c', script, path.join(dir, 'r.xml')], {encoding: 'utf8'}));
  } finally {
    rmSync(dir, {recursive: true, force: true});
  }
}

describe('box ci: instance ids', () => {
  test('--id wins, then the CI job variables in a fixed order, then a random id', () => {
    const env = {GITHUB_RUN_ID: '9876', GITHUB_RUN_ATTEMPT: '2', GITHUB_JOB: 'Test_Linux', CI_JOB_ID: '55'};
    assert.deepEqual(deriveInstanceId('pr-42', env), {id: 'pr-42', from: '--id'});
    assert.deepEqual(deriveInstanceId(undefined, env), {id: 'gh-9876-2-test-linux', from: 'GITHUB_RUN_ID + GITHUB_RUN_ATTEMPT + GITHUB_JOB'});
    assert.deepEqual(deriveInstanceId(undefined, {CI_JOB_ID: '55'}), {id: 'gl-55', from: 'CI_JOB_ID'});
    assert.deepEqual(deriveInstanceId(undefined, {BUILD_TAG: 'jenkins-My Job-12'}), {id: 'jenkins-my-job-12', from: 'BUILD_TAG'});
    assert.deepEqual(deriveInstanceId(undefined, {BUILDKITE_JOB_ID: '0190e7d6-aaaa'}), {id: 'bk-0190e7d6-aaaa', from: 'BUILDKITE_JOB_ID'});
    assert.deepEqual(deriveInstanceId(undefined, {CIRCLE_WORKFLOW_JOB_ID: 'c1'}), {id: 'circle-c1', from: 'CIRCLE_WORKFLOW_JOB_ID'});
    // GitHub without its attempt (an old runner) is not half-used: the next service is tried.
    assert.equal(deriveInstanceId(undefined, {GITHUB_RUN_ID: '1', GITHUB_JOB: 'x', CI_JOB_ID: '7'}).id, 'gl-7');
    const a = deriveInstanceId(undefined, {});
    const b = deriveInstanceId(undefined, {});
    assert.equal(a.from, 'random');
    assert.match(a.id, /^ci-[0-9a-f]{8}$/);
    assert.notEqual(a.id, b.id);
  });

});

describe('box ci: the JUnit report', () => {
  test('output with markup, control characters, `]]>` and odd code points is still well-formed XML and reads back', () => {
    const nasty = 'ok <b>&amp;</b> "q" \'a\' ]]> end\u0000\u0001\u001b[31mred\u001b[0m\r\n\ud800 tab\t\ufffe ✓ 😀';
    const xml = junitXml('box ci x', [{name: 'web', className: 'box.p.web', durationMs: 1234, timestamp: '2026-01-01T00:00:00Z', cases: [
      {name: `t ${nasty}`, status: 'failed', exitCode: 3, durationMs: 1000, message: `exited ${nasty}`, output: nasty},
    ]}]);
    const back = parseXml(xml);
    assert.equal(back.out, back.failure);
    assert.ok(back.out.startsWith('ok <b>&amp;</b> "q" \'a\' ]]> end\\x00\\x01\\x1b[31mred\\x1b[0m\r\n\\ud800 tab\t\\ufffe ✓ 😀'), JSON.stringify(back.out));
    assert.equal(back.name, `t ${back.out}`);
    assert.match(xml, /<testsuite name="web" tests="1" failures="1" errors="0" skipped="0" time="1\.234"/);
  });

  test('xmlText escapes the five markup characters', () => {
    assert.equal(xmlText('<a href="x">&\'</a>'), '&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;');
  });

  test('passed, skipped and error cases', () => {
    const xml = junitXml('r', [{name: 'm', className: 'c', durationMs: 0, timestamp: 't', cases: [
      {name: 'a', status: 'passed', durationMs: 5},
      {name: 'b', status: 'skipped', durationMs: 0, message: 'a failed before it'},
      {name: 'up', status: 'error', durationMs: 7, message: 'no box'},
    ]}]);
    assert.match(xml, /<testcase classname="c" name="a" time="0\.005"\/>/);
    assert.match(xml, /<skipped message="a failed before it"\/>/);
    assert.match(xml, /<error type="error" message="no box">/);
    assert.match(xml, /tests="3" failures="0" errors="1" skipped="1"/);
  });
});

describe('box ci: the exit code', () => {
  const machine = (name: string, up: boolean, codes: number[]): CiMachineResult => ({
    name, target: 'qemu', up: {ok: up, durationMs: 0},
    tests: codes.map((code, i) => ({name: `t${i}`, command: 'x', durationMs: 0, exitCode: code, status: code === 0 ? 'passed' : 'failed'})),
  });
  test('0 when all pass; the first failing machine decides: its command\'s code, or 1 for a failed up', () => {
    assert.equal(jobExitCode([machine('a', true, [0, 0]), machine('b', true, [0])]), 0);
    assert.equal(jobExitCode([machine('a', true, [0, 7]), machine('b', true, [9])]), 7);
    assert.equal(jobExitCode([machine('a', false, []), machine('b', true, [9])]), 1);
    assert.equal(jobExitCode([machine('a', true, [0]), machine('b', false, [])]), 1);
  });
});
