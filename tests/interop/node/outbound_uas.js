// Outbound-mode UAS: srf.listen() accepts the connections trio-srf-server opens per call
// (drachtio "request handlers", spec §10), answers each INVITE 200 with SDP, and ends the
// session (srf.endSession) once the dialog is gone. With --end-session-early it ends the
// session right after the ACK instead, leaving the server to hang up the call.
// One JSON event per line, read by tests/interop/test_node_outbound.py.
'use strict';
const {Srf, log, arg, sdp} = require('./common');

const early = process.argv.includes('--end-session-early');
const srf = new Srf();
srf.listen({
  host: arg('host', '127.0.0.1'),
  port: parseInt(arg('port', '4000'), 10),
  secret: arg('secret', 'cymru'),
});
srf.on('listening', () => log('listening', {port: parseInt(arg('port', '4000'), 10)}));
srf.on('connect', (err, hostport, version) => {
  if (err) log('connect-error', {error: String(err)});
  else log('connect', {hostport, version});
});
srf.on('error', (err) => log('error', {error: String(err)}));

srf.invite((req, res) => {
  const local = `${req.socket.localAddress}:${req.socket.localPort}`;
  const remote = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
  log('invite', {callId: req.get('Call-ID'), receivedOn: req.receivedOn, local, remote});
  req.socket.on('close', () => log('session-closed', {callId: req.get('Call-ID')}));
  srf.createUAS(req, res, {localSdp: sdp(31000)})
    .then((dialog) => {
      log('dialog', {id: dialog.id});
      dialog.on('destroy', () => {
        log('destroy', {id: dialog.id});
        srf.endSession(req);
      });
      if (early) {
        log('end-session', {id: dialog.id});
        srf.endSession(req);
      }
    })
    .catch((err) => log('uas-error', {status: err.status, error: String(err)}));
});
