import assert from 'node:assert/strict';
import {readdirSync, readFileSync} from 'node:fs';
import path from 'node:path';
import {describe, test} from 'node:test';
import {Ajv} from 'ajv';
import {parse} from 'yaml';
import {repoRoot} from '../helpers/cli.js';

// Editors check Boxfiles with the published JSON Schema, not with zod: it must agree with box
// on the examples (all accepted) and on the mistakes editors should underline.
const schema = JSON.parse(readFileSync(path.join(repoRoot, 'schemas', 'boxfile.schema.json'), 'utf8'));
const validate = new Ajv({strict: false, allErrors: true}).compile(schema);

function load(file: string): unknown {
  return parse(readFileSync(file, 'utf8'));
}

describe('published JSON Schema', () => {
  const examples = [
    path.join(repoRoot, 'Boxfile.example'),
    ...readdirSync(path.join(repoRoot, 'boxfiles')).map((d) => path.join(repoRoot, 'boxfiles', d, 'Boxfile')),
  ];

  for (const file of examples) {
    test(`${path.relative(repoRoot, file)} is valid for editors too`, () => {
      assert.equal(validate(load(file)), true, JSON.stringify(validate.errors));
    });
  }

  test('editors flag unknown keys, bad enums and wrong types', () => {
    for (const data of [
      {basebox: 'debian-12', targets: {qemu: {memroy: 1}}},
      {basebox: 'debian-12', target: 'vmware'},
      {basebox: 'debian-12', targets: {qemu: {cpus: 'two'}}},
      {basebox: 'debian-12', provisioners: [{type: 'ansible'}]},
    ]) {
      assert.equal(validate(data), false, JSON.stringify(data));
    }
  });

  test('editors accept x- keys at the top level, as box does', () => {
    assert.equal(validate({'basebox': 'debian-12', 'x-common': {anything: 1}}), true, JSON.stringify(validate.errors));
    assert.equal(validate({basebox: 'debian-12', machines: {web: {'x-common': 1}}}), false);
  });

  test('field descriptions are published for editor tooltips', () => {
    const props = schema.definitions.Boxfile.properties;
    assert.match(props.basebox.description, /version constraint/);
    assert.match(props.targets.properties.qemu.properties.accel.description, /TCG/);
  });
});
