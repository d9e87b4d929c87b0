// A real npm `nacos-naming` client for tests/live.rs: registers one ephemeral instance,
// subscribes to its service, and prints JSON lines: `registered`, `listener` (every listener
// call, with the hosts), `push` (every UDP push the SDK received, taken from its log line)
// and `deregistered`. Usage:
//   NODE_PATH=…/node_modules node js_client.js SERVER SERVICE PORT SECONDS
'use strict';
const path = require('path');

const [server, service, port, seconds] = process.argv.slice(2);
const out = (kind, o) => process.stdout.write(JSON.stringify(Object.assign({ kind, t: Date.now() }, o)) + '\n');

// The SDK reports `require('address').ip()` as its clientIP (the push target); on loopback
// that must be 127.0.0.1. Patch the instance the SDK will load before it loads.
const sdk = require.resolve('nacos-naming');
require(require.resolve('address', { paths: [path.dirname(sdk)] })).ip = () => '127.0.0.1';
const { NacosNamingClient } = require('nacos-naming');

const log = level => (...args) => {
  const msg = require('util').format(...args);
  const m = /^\[PushReceiver\] received push data: ([\s\S]*) from ([^:]+):(\d+)$/.exec(msg);
  if (m) out('push', { packet: JSON.parse(m[1]) });
  else if (level === 'error') out('sdk-error', { msg });
};
const logger = { debug() {}, info: log('info'), warn: log('warn'), error: log('error') };

async function main() {
  const client = new NacosNamingClient({ logger, serverList: server, namespace: 'public' });
  await client.ready();
  const instance = { ip: '127.0.0.1', port: Number(port), weight: 1, healthy: true, enabled: true, ephemeral: true };
  await client.registerInstance(service, instance, 'DEFAULT_GROUP');
  out('registered', {});
  client.subscribe({ serviceName: service, groupName: 'DEFAULT_GROUP' }, hosts => {
    out('listener', { hosts: (hosts || []).map(h => ({ port: h.port, healthy: h.healthy })) });
  });
  setTimeout(async () => {
    await client.deregisterInstance(service, instance, 'DEFAULT_GROUP');
    out('deregistered', {});
    await client.close();
    process.exit(0);
  }, Number(seconds) * 1000);
}

main().catch(err => { out('failed', { msg: String(err && err.stack) }); process.exit(1); });
