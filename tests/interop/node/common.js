// Shared helpers for the interop apps (written for trio_srf's tests).
// Every app connects to trio-srf-server in inbound mode and prints one JSON object per line
// for each event it sees; tests/interop/test_node_drachtio.py reads and asserts them.
'use strict';
const Srf = require('drachtio-srf');

function log(event, extra) {
  process.stdout.write(JSON.stringify(Object.assign({event}, extra || {})) + '\n');
}

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

function connect() {
  const srf = new Srf();
  srf.connect({
    host: arg('host', '127.0.0.1'),
    port: parseInt(arg('port', '9022'), 10),
    secret: arg('secret', 'cymru'),
    enablePing: true,
    pingInterval: 5000,
  });
  srf.on('connect', (err, hostport, version) => {
    if (err) log('connect-error', {error: String(err)});
    else log('connect', {hostport, version});
  });
  srf.on('error', (err) => log('error', {error: String(err)}));
  return srf;
}

function sdp(port) {
  return ['v=0', 'o=node 1 1 IN IP4 127.0.0.1', 's=node', 'c=IN IP4 127.0.0.1', 't=0 0',
    `m=audio ${port} RTP/AVP 0`, 'a=rtpmap:0 PCMU/8000', ''].join('\r\n');
}

module.exports = {Srf, log, arg, connect, sdp};
