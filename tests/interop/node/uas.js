// UAS: answers every INVITE 200 with SDP (srf.createUAS) and logs the dialog's events:
// info and modify (re-INVITE) requests are answered 200, destroy is logged.
'use strict';
const {log, connect, sdp} = require('./common');

const srf = connect();
srf.invite((req, res) => {
  log('invite', {callId: req.get('Call-ID'), from: req.getParsedHeader('From').uri,
    receivedOn: req.receivedOn});
  req.on('cancel', () => log('cancel', {callId: req.get('Call-ID')}));
  srf.createUAS(req, res, {localSdp: sdp(30000)})
    .then((dialog) => {
      log('dialog', {id: dialog.id, callId: dialog.sip.callId});
      dialog.on('info', (r, s) => {
        log('info', {contentType: r.get('Content-Type'), body: r.body});
        s.send(200);
      });
      dialog.on('modify', (r, s) => {
        log('modify', {hasSdp: !!r.body});
        s.send(200, {body: sdp(30002)});
      });
      dialog.on('destroy', () => log('destroy', {id: dialog.id}));
    })
    .catch((err) => log('uas-error', {status: err.status, error: String(err)}));
});
