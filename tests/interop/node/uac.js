// UAC: srf.createUAC to --uri with digest credentials, then hangs up after --hold ms.
'use strict';
const {log, arg, connect, sdp} = require('./common');

const srf = connect();
srf.on('connect', (err) => {
  if (err) return;
  srf.createUAC(arg('uri'), {
    localSdp: sdp(30004),
    auth: {username: arg('user', 'trio'), password: arg('password', 'secret')},
    headers: {'X-Test': 'createUAC'},
  }, {
    cbProvisional: (res) => log('provisional', {status: res.status}),
  })
    .then((dialog) => {
      log('dialog', {id: dialog.id, remoteSdp: !!dialog.remote.sdp});
      dialog.on('destroy', () => log('destroy-remote', {}));
      setTimeout(() => {
        dialog.destroy().then(() => { log('destroyed', {}); srf.disconnect(); });
      }, parseInt(arg('hold', '300'), 10));
    })
    .catch((err) => { log('uac-error', {status: err.status, error: String(err)}); srf.disconnect(); });
});
