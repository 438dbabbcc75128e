// B2BUA: every INVITE becomes srf.createB2BUA to --target; hang-ups are propagated.
'use strict';
const {log, arg, connect} = require('./common');

const srf = connect();
srf.invite((req, res) => {
  log('invite', {callId: req.get('Call-ID')});
  srf.createB2BUA(req, res, arg('target'), {localSdpB: req.body})
    .then(({uas, uac}) => {
      log('b2bua', {uas: uas.id, uac: uac.id});
      uas.on('destroy', () => { log('destroy', {leg: 'uas'}); uac.destroy(); });
      uac.on('destroy', () => { log('destroy', {leg: 'uac'}); uas.destroy(); });
    })
    .catch((err) => log('b2bua-error', {status: err.status, error: String(err)}));
});
