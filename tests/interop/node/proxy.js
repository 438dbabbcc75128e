// Proxy: every INVITE is srf.proxyRequest'ed to the --targets (comma-separated), serially,
// with record-route; the result is logged.
'use strict';
const {log, arg, connect} = require('./common');

const srf = connect();
srf.invite((req, res) => {
  log('invite', {callId: req.get('Call-ID')});
  srf.proxyRequest(req, arg('targets').split(','), {recordRoute: true})
    .then((result) => log('proxied', {finalStatus: result.finalStatus,
      connected: result.connected, responses: result.responses.length}))
    .catch((err) => log('proxy-error', {error: String(err)}));
});
