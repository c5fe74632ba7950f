import assert from 'node:assert/strict';
import {describe, test} from 'node:test';
import {installScript} from '../../src/provisioners/guest-install.js';

describe('installing a provisioner\'s tool in the guest', () => {
  test('the script installs the package of the guest\'s package manager and exits 3 without one', () => {
    const script = installScript({tool: 'puppet', program: 'puppet', packages: {apt: 'puppet', dnf: 'puppet-agent', zypper: 'rubygem-puppet'}});
    assert.match(script, /^set -e\n/);
    assert.match(script, /apt-get install -y -q --no-install-recommends puppet\n/);
    assert.match(script, /dnf install -y puppet-agent\n/);
    assert.match(script, /zypper --non-interactive install rubygem-puppet\n/);
    assert.match(script, /install puppet in the box[\s\S]*exit 3/);
  });
});
