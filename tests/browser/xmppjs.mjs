// xmpp.js (@xmpp/client, in node over TCP) against `rhein serve --ephemeral`.
//
// Usage: node xmppjs.mjs PATH/TO/rhein
//
// xmpp.js logs in with SASL2 (XEP-0388), binds with Bind2 (XEP-0386) and enables stream
// management inline. The stream features that follow <success/> must then offer neither legacy
// <bind/> nor <sm/>: xmpp.js acts on whatever is offered, so it would try to resume (and get
// unexpected-request) and bind again (service-unavailable). The same holds after its connection
// drops and it resumes inline with its FAST token. Two clients, alice and bob, exchange
// messages before and after alice's resumption.

import { check, startServer } from './common.mjs';
import { client, xml } from '@xmpp/client';

const binary = process.argv[2];
const TIMEOUT = 15_000;
// STARTTLS to the ephemeral self-signed certificate (loopback only).
process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';


/** Resolves with the first `event` of `emitter` whose argument satisfies `pred`. */
function waitFor(emitter, event, pred = () => true, what = event) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, listener);
      reject(new Error(`timed out waiting for ${what}`));
    }, TIMEOUT);
    function listener(arg) {
      if (!pred(arg)) return;
      clearTimeout(timer);
      emitter.off(event, listener);
      resolve(arg);
    }
    emitter.on(event, listener);
  });
}

/** An xmpp.js client that records what it sends and receives, and every error it reports. */
function login(c2s, user) {
  const xmpp = client({ service: `xmpp://${c2s}`, domain: 'localhost', username: user, password: 'secret',
    resource: 'xmppjs', timeout: TIMEOUT });
  const log = { sent: [], received: [], errors: [] };
  xmpp.on('send', (el) => log.sent.push(el));
  xmpp.on('element', (el) => log.received.push(el));
  xmpp.on('error', (e) => log.errors.push(e));
  return { xmpp, log };
}

/** The stream features received after the last SASL2 <success/>. */
function featuresAfterSuccess(log) {
  const success = log.received.findLastIndex((el) => el.is('success', 'urn:xmpp:sasl:2'));
  return log.received.slice(success + 1).find((el) => el.is('features', 'http://etherx.jabber.org/streams'));
}

/** Checks one login (or resumption) went through SASL2 alone: nothing legacy offered or tried. */
function checkStreamlined({ xmpp, log }, who) {
  check(log.sent.some((el) => el.is('authenticate', 'urn:xmpp:sasl:2')), `${who} authenticates with SASL2`);
  check(!log.sent.some((el) => el.getChild('bind', 'urn:ietf:params:xml:ns:xmpp-bind')), `${who} binds no resource the legacy way`);
  check(!log.sent.some((el) => el.is('resume', 'urn:xmpp:sm:3') || el.is('enable', 'urn:xmpp:sm:3')),
    `${who} sends no <resume/> or <enable/> of its own`);
  check(!log.received.some((el) => el.is('failed', 'urn:xmpp:sm:3')), `${who} gets no SM <failed/>`);
  check(log.errors.length === 0, `${who} reports no error (${log.errors.map((e) => e.message)})`);
  check(xmpp.streamManagement.enabled && xmpp.streamManagement.id, `${who} has resumable SM`);
  const features = featuresAfterSuccess(log);
  check(features, `${who} gets stream features after <success/>`);
  const offered = features.children.map((f) => `${f.name} ${f.attrs.xmlns}`);
  check(!features.getChild('bind', 'urn:ietf:params:xml:ns:xmpp-bind'), `no legacy <bind/> offered (${offered})`);
  check(!features.getChild('sm', 'urn:xmpp:sm:3'), `no <sm/> offered, SM being on already (${offered})`);
}

const ping = (xmpp) => xmpp.iqCaller.request(xml('iq', { type: 'get', to: 'localhost' }, xml('ping', { xmlns: 'urn:xmpp:ping' })));

/** Waits until xmpp.js has acted on the features after <success/>: they have arrived, its
 *  handlers have sent their first request, and two pings in a row came back (the server answers
 *  in order, and each of those requests is answered before the ping sent after it). */
async function settle({ xmpp, log }) {
  if (!featuresAfterSuccess(log)) {
    await waitFor(xmpp, 'element', (el) => el.is('features', 'http://etherx.jabber.org/streams'), 'stream features');
  }
  await new Promise(setImmediate);
  await ping(xmpp);
  await ping(xmpp);
}

async function exchange(from, to, body) {
  const got = waitFor(to.xmpp, 'stanza', (s) => s.is('message') && s.getChildText('body') === body, `"${body}"`);
  await from.xmpp.send(xml('message', { to: to.xmpp.jid.bare().toString(), type: 'chat' }, xml('body', {}, body)));
  return got;
}

async function main() {
  check(binary, 'usage: node xmppjs.mjs PATH/TO/rhein');
  const { child, ready } = await startServer(binary, ['--user', 'alice:secret', '--user', 'bob:secret']);
  const alice = login(ready.c2s, 'alice');
  const bob = login(ready.c2s, 'bob');
  try {
    for (const [who, c] of [['alice', alice], ['bob', bob]]) {
      const online = waitFor(c.xmpp, 'online', () => true, `${who} online`);
      await c.xmpp.start();
      const jid = await online;
      check(jid.resource?.startsWith('xmppjs/'), `${who} is bound by Bind2 (${jid})`);
      await settle(c);
      checkStreamlined(c, who);
      await c.xmpp.send(xml('presence'));
    }
    await exchange(alice, bob, 'Hello Bob, from xmpp.js');
    await exchange(bob, alice, 'Hi Alice, xmpp.js here too');
    check(true, 'alice and bob exchange messages');

    // alice's connection drops; xmpp.js reconnects and resumes inline with its FAST token.
    const id = alice.xmpp.streamManagement.id;
    const resumed = waitFor(alice.xmpp.streamManagement, 'resumed', () => true, 'alice resumed');
    alice.log.sent.length = 0;
    alice.log.received.length = 0;
    alice.xmpp.socket.socket.destroy();
    await resumed;
    check(alice.xmpp.streamManagement.id === id, 'alice resumes her session after the connection dropped');
    await settle(alice);
    checkStreamlined(alice, 'alice (resumed)');
    await exchange(bob, alice, 'Still there, Alice?');
    await exchange(alice, bob, 'Yes, same session');
    check(true, 'messages flow both ways after the resumption');
  } finally {
    for (const c of [alice, bob]) {
      c.xmpp.reconnect.stop();
      await c.xmpp.stop().catch(() => {});
    }
    child.kill('SIGTERM');
  }
  console.log('xmpp.js: all checks passed');
}

main().then(() => process.exit(0), (e) => { console.log(e.message ?? e); process.exit(1); });
