import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {projectGroupName, subnetAddressProblem} from '../../../src/providers/aws/private-network.js';

describe('the aws private network\'s address rules', () => {
  test('an address inside the subnet and not reserved by AWS is fine', () => {
    assert.equal(subnetAddressProblem('172.31.0.4', '172.31.0.0/20'), undefined);
    assert.equal(subnetAddressProblem('172.31.15.254', '172.31.0.0/20'), undefined);
  });
  test('outside the subnet, or one of the five addresses AWS reserves, is a problem naming the CIDR', () => {
    assert.match(subnetAddressProblem('172.31.16.5', '172.31.0.0/20')!, /outside the subnet 172\.31\.0\.0\/20/);
    assert.match(subnetAddressProblem('10.0.0.5', '172.31.0.0/20')!, /outside/);
    for (const reserved of ['172.31.0.0', '172.31.0.1', '172.31.0.3', '172.31.15.255']) {
      assert.match(subnetAddressProblem(reserved, '172.31.0.0/20')!, /reserves/, reserved);
    }
  });
  test('the project group is named after the project', () => {
    assert.equal(projectGroupName({name: 'shop'}), 'box-shop-private');
  });
});
