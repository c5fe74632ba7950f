import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {answerKind, checkKickstart, validateAnswer} from '../../src/builder/validate-answers.js';

const GOOD_KS = ['lang en_US.UTF-8', 'keyboard us', 'timezone UTC', 'rootpw --plaintext x', 'autopart', '%packages', '@core', '%end', '%post', 'echo hi', '%end'].join('\n');

describe('answer file kinds', () => {
  test('kinds are guessed from the names installers use', () => {
    assert.equal(answerKind('preseed.cfg'), 'preseed');
    assert.equal(answerKind('ks.cfg'), 'kickstart');
    assert.equal(answerKind('user-data'), 'cloud-config');
    assert.equal(answerKind('meta-data'), 'yaml');
    assert.equal(answerKind('autoinst.xml'), 'autoyast');
    assert.equal(answerKind('Autounattend.xml'), 'autounattend');
    assert.equal(answerKind('other.xml'), 'xml');
    assert.equal(answerKind('late.sh'), 'other');
  });
});

describe('preseed check (debconf-set-selections --checkonly)', () => {
  test('a well-formed preseed passes', async () => {
    const check = await validateAnswer('preseed.cfg', 'd-i debian-installer/locale string en_US\n# comment\nd-i passwd/root-password password x\n');
    assert.deepEqual(check.problems, []);
    assert.equal(check.checker, 'debconf-set-selections --checkonly');
  });

  test('checks running at once do not trip over debconf\'s database lock', async () => {
    const checks = await Promise.all(Array.from({length: 8}, () => validateAnswer('preseed.cfg', 'd-i debian-installer/locale string en_US\n')));
    assert.deepEqual(checks.map((c) => c.problems), Array.from({length: 8}, () => []));
  });

  test('a line without a value type is a parse error with its line number', async () => {
    const check = await validateAnswer('preseed.cfg', 'd-i a/b string c\nd-i broken\n');
    assert.equal(check.ok, false);
    assert.match(check.problems.join('\n'), /parse error on line 2/);
  });

  test('an unknown type (debconf only warns) counts as a problem', async () => {
    const check = await validateAnswer('preseed.cfg', 'd-i a/b strng c\n');
    assert.equal(check.ok, false);
    assert.match(check.problems.join('\n'), /Unknown type strng/);
  });
});

describe('kickstart structure rules', () => {
  test('a complete kickstart passes', () => {
    assert.deepEqual(checkKickstart(GOOD_KS), []);
  });

  test('an unknown command, an unclosed section and nesting are reported with lines', () => {
    const problems = checkKickstart(['lang en_US', 'keyboard us', 'timezone UTC', 'rootpw x', 'autopart', 'rootpwd y', '%post', '%packages', '%end', '%pre'].join('\n'));
    assert.ok(problems.includes('line 6: unknown kickstart command "rootpwd"'), problems.join('\n'));
    assert.ok(problems.some((p) => /line 8: section %packages starts before %post \(line 7\)/.test(p)));
    assert.ok(problems.some((p) => /section %pre \(line 10\) is not closed with %end/.test(p)));
  });

  test('missing required commands and partitioning are reported', () => {
    const problems = checkKickstart('text\n');
    for (const c of ['lang', 'keyboard', 'timezone', 'rootpw']) assert.ok(problems.includes(`missing required command "${c}"`), c);
    assert.ok(problems.some((p) => /no partitioning command/.test(p)));
  });

  test('an %end without a section and an unknown section are errors', () => {
    const problems = checkKickstart(`${GOOD_KS}\n%end\n%postt\n%end`);
    assert.ok(problems.some((p) => /%end without an open section/.test(p)));
    assert.ok(problems.some((p) => /unknown section "%postt"/.test(p)));
  });
});

describe('cloud-config and XML checks', () => {
  test('user-data must start with #cloud-config and be a YAML mapping', async () => {
    assert.equal((await validateAnswer('user-data', '#cloud-config\nautoinstall:\n  version: 1\n')).ok, true);
    assert.match((await validateAnswer('user-data', 'autoinstall: {}\n')).problems.join(), /#cloud-config/);
    assert.equal((await validateAnswer('user-data', '#cloud-config\nkey: [unclosed\n')).ok, false);
    assert.match((await validateAnswer('user-data', '#cloud-config\n- a\n')).problems.join(), /mapping/);
  });

  test('XML must be well-formed, with the root element the installer expects', async () => {
    assert.equal((await validateAnswer('autoinst.xml', '<?xml version="1.0"?><profile><general/></profile>')).ok, true);
    assert.match((await validateAnswer('autoinst.xml', '<profile><general></profile>')).problems.join(), /line 1/);
    assert.match((await validateAnswer('Autounattend.xml', '<profile/>')).problems.join(), /expected <unattend>/);
    assert.equal((await validateAnswer('Autounattend.xml', '<unattend xmlns="urn:schemas-microsoft-com:unattend"><settings pass="windowsPE"/></unattend>')).ok, true);
  });
});
