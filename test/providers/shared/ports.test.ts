import assert from 'node:assert/strict';
import net from 'node:net';
import {describe, test} from 'node:test';
import {checkForwardedPorts, findDuplicateForwards, freePort, portIsFree} from '../../../src/providers/shared/ports.js';

function listen(port = 0): Promise<net.Server> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
}

describe('port checks', () => {
  test('freePort returns a port that can be bound', async () => {
    const port = await freePort();
    assert.ok(port > 1024);
    assert.equal(await portIsFree('tcp', '127.0.0.1', port), true);
  });

  test('a port a real server listens on is reported as in use', async () => {
    const server = await listen();
    const {port} = server.address() as net.AddressInfo;
    try {
      assert.equal(await portIsFree('tcp', '127.0.0.1', port), false);
    } finally {
      server.close();
    }
  });

  test('the same host port in two machines is a duplicate, and a wildcard address overlaps 127.0.0.1', () => {
    const problems = findDuplicateForwards([
      {machine: 'web', forwardedPorts: [{protocol: 'tcp', hostIp: '127.0.0.1', host: 8080, guest: 80}]},
      {machine: 'db', forwardedPorts: [{protocol: 'tcp', hostIp: '0.0.0.0', host: 8080, guest: 5432}, {protocol: 'udp', hostIp: '127.0.0.1', host: 8080, guest: 53}]},
    ]);
    assert.equal(problems.length, 1);
    assert.match(problems[0], /tcp\/0\.0\.0\.0:8080 .*"web".*"db"/);
  });

  test('different addresses or protocols on the same port do not collide', () => {
    assert.deepEqual(findDuplicateForwards([
      {machine: 'a', forwardedPorts: [{protocol: 'tcp', hostIp: '127.0.0.1', host: 9000, guest: 1}]},
      {machine: 'b', forwardedPorts: [{protocol: 'tcp', hostIp: '127.0.0.2', host: 9000, guest: 1}, {protocol: 'udp', hostIp: '127.0.0.1', host: 9000, guest: 1}]},
    ]), []);
  });

  test('checkForwardedPorts names the Boxfile, the machine and every problem in one usage error', async () => {
    const server = await listen();
    const {port} = server.address() as net.AddressInfo;
    try {
      await assert.rejects(
        checkForwardedPorts('/p/Boxfile', {machine: 'web', forwardedPorts: [
          {protocol: 'tcp', hostIp: '127.0.0.1', host: port, guest: 80},
          {protocol: 'tcp', hostIp: '127.0.0.1', host: 18_081, guest: 81},
        ]}, [{machine: 'db', forwardedPorts: [{protocol: 'tcp', hostIp: '127.0.0.1', host: 18_081, guest: 5432}]}]),
        (e: any) => {
          assert.equal(e.code, 'ERR_PORT_COLLISION');
          assert.equal(e.exitCode, 2);
          assert.match(e.message, /\/p\/Boxfile: forwarded_ports of machine "web"/);
          assert.match(e.message, new RegExp(`127\\.0\\.0\\.1:${port} \\(guest 80\\) is already in use`));
          assert.match(e.message, /18081 is forwarded by machine "db" and by machine "web"/);
          return true;
        },
      );
    } finally {
      server.close();
    }
  });

  test('free ports pass the check', async () => {
    const port = await freePort();
    await checkForwardedPorts('/p/Boxfile', {machine: 'web', forwardedPorts: [{protocol: 'tcp', hostIp: '127.0.0.1', host: port, guest: 80}]}, []);
  });
});
