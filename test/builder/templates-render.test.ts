import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {parseBootCommand} from '../../src/builder/boot-command.js';
import {isoMethod} from '../../src/builder/methods/iso/index.js';
import {renderTemplateAnswers} from '../../src/builder/methods/iso/answers.js';
import {renderBootCommand} from '../../src/builder/methods/iso/keys.js';
import {loadTemplate} from '../../src/builder/template.js';
import {listTemplates} from '../../src/builder/templates-dir.js';
import {validateAnswerFiles} from '../../src/builder/validate-answers.js';

/** Every installer template box ships: its answer files render with the declared defaults and pass their syntax check. */
const INSTALLER_TEMPLATES = ['centos-stream-9', 'rocky-9', 'debian-12', 'ubuntu-24.04', 'opensuse-leap-15.6', 'windows-server-2022'];
const EXPECTED_KIND: Record<string, string> = {
  'centos-stream-9': 'kickstart', 'rocky-9': 'kickstart', 'debian-12': 'preseed', 'ubuntu-24.04': 'cloud-config',
  'opensuse-leap-15.6': 'autoyast', 'windows-server-2022': 'autounattend',
};

describe('installer templates', () => {
  test('all six installer templates are shipped and use the iso method', async () => {
    const names = listTemplates().map((t) => t.name);
    for (const name of INSTALLER_TEMPLATES) assert.ok(names.includes(name), `${name} is listed`);
  });

  for (const name of INSTALLER_TEMPLATES) {
    test(`${name} renders its answer files with default variables and they pass the ${EXPECTED_KIND[name]} syntax check`, async () => {
      const ref = listTemplates().find((t) => t.name === name)!;
      const template = await loadTemplate(ref.dir);
      assert.equal(template.definition.method, 'iso');
      const rendered = await renderTemplateAnswers(template, {httpIp: '10.0.2.2', httpPort: 8123});
      assert.ok(rendered.length > 0);
      const checks = await validateAnswerFiles(rendered);
      assert.equal(checks[0].kind, EXPECTED_KIND[name]);
      for (const check of checks) assert.deepEqual(check.problems, [], `${name}/${check.file} (${check.checker})`);
      for (const file of rendered) assert.doesNotMatch(file.content, /\{\{|\}\}/, `${file.name} has no unrendered handlebars`);
      // The boot command renders and every key in it can be typed.
      const boot = renderBootCommand(template, {httpIp: '10.0.2.2', httpPort: 8123});
      assert.ok(parseBootCommand(boot).length > 0);
      if (template.definition.answer_media === 'http') assert.match(boot.join(''), /10\.0\.2\.2:8123/);
      // --dry-run's plan shows the rendered files with sensitive variables masked.
      const secret = 'Sekr1t-Value-42';
      const withSecrets = await loadTemplate(ref.dir, Object.fromEntries(template.sensitive.map((k) => [k, secret])));
      assert.ok((await renderTemplateAnswers(withSecrets, {httpIp: '10.0.2.2', httpPort: 1})).some((f) => f.content.includes(secret)), 'the secret is used by an answer file');
      const plan = isoMethod.plan(withSecrets).join('\n');
      assert.ok(!plan.includes(secret), 'sensitive values are masked in the plan');
      assert.match(plan, /answer file [\w.-]+:\n {6}\| /);
    });
  }

  test('a --var override reaches the rendered answer file', async () => {
    const ref = listTemplates().find((t) => t.name === 'debian-12')!;
    const template = await loadTemplate(ref.dir, {hostname: 'ci-runner-7'});
    const [preseed] = await renderTemplateAnswers(template, {httpIp: '10.0.2.2', httpPort: 8000});
    assert.match(preseed.content, /netcfg\/get_hostname string ci-runner-7/);
  });
});
