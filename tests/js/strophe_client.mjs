// strophe.js (the XMPP library lib-jitsi-meet uses) under Node, driven by
// tests/tests/interop_strophe.rs against a real meet-rs xmpp-server.
//
// One scenario per run, chosen by MODE; prints one JSON line on stdout
// (prefixed with RESULT ) and exits 0, or prints the reason and the XMPP
// traffic it saw on stderr and exits 1.
//
// Environment:
//   MODE        anonymous | login | wrong-password | message | disco
//   TRANSPORT   bosh | websocket (the transport of the main connection)
//   BOSH_URL    e.g. http://127.0.0.1:5280/http-bind
//   WS_URL      e.g. ws://127.0.0.1:5280/xmpp-websocket
//   DOMAIN      the virtual host (anonymous, message, disco)
//   JID, PASSWORD        for login / wrong-password
//   JID_A, PASSWORD_A, JID_B, PASSWORD_B
//               message: the two accounts (default: anonymous on DOMAIN);
//               TO_BARE=1 addresses the messages to bare JIDs
//   MECHANISMS  optional comma-separated SASL mechanisms Strophe may use
//               (e.g. PLAIN or SCRAM-SHA-1); default: all Strophe has
//   TIMEOUT_MS  overall deadline of the scenario (default 20000)
//
// Node has no XMLHttpRequest, which Strophe's BOSH transport needs: xhr2
// provides it, with a responseXML getter added (browsers parse the body,
// since Strophe calls overrideMimeType('text/xml')). DOMParser, document and
// WebSocket come from Strophe's own Node entry (@xmldom/xmldom and ws).

import XHR2 from 'xhr2';
import { Strophe, $iq, $msg, $pres } from 'strophe.js';

class XMLHttpRequestWithXML extends XHR2 {
    get responseXML() {
        if (this.readyState !== 4 || !this.responseText) {
            return null;
        }
        return new DOMParser().parseFromString(this.responseText, 'text/xml');
    }
}
globalThis.XMLHttpRequest = XMLHttpRequestWithXML;

const env = process.env;
const MODE = env.MODE || '';
const TIMEOUT_MS = Number(env.TIMEOUT_MS || 20000);
const traffic = [];

function note(line) {
    traffic.push(`${new Date().toISOString()} ${line}`);
    if (env.STROPHE_VERBOSE) {
        process.stderr.write(`${line}\n`);
    }
}

function fail(message) {
    process.stderr.write(`strophe_client FAILED (MODE=${MODE} TRANSPORT=${env.TRANSPORT || ''}): ${message}\n`);
    process.stderr.write(`--- XMPP traffic seen by strophe.js (${traffic.length} entries) ---\n`);
    for (const t of traffic.slice(-200)) {
        process.stderr.write(`${t}\n`);
    }
    process.exit(1);
}

function done(result) {
    process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
    process.exit(0);
}

// Strophe logs through console.*: keep its messages with the traffic (shown
// on failure) so that stdout carries only the RESULT line.
for (const level of ['debug', 'info', 'warn', 'error', 'log']) {
    console[level] = (...args) => note(`[strophe ${level}] ${args.map(String).join(' ')}`);
}
Strophe.setLogLevel(Strophe.LogLevel.DEBUG);

process.on('unhandledRejection', (e) => fail(`unhandled rejection: ${e && e.stack ? e.stack : e}`));
process.on('uncaughtException', (e) => fail(`uncaught exception: ${e && e.stack ? e.stack : e}`));
setTimeout(() => fail(`scenario did not finish within ${TIMEOUT_MS} ms`), TIMEOUT_MS).unref();

const STATUS_NAMES = Object.fromEntries(Object.entries(Strophe.Status).map(([k, v]) => [v, k]));
const MECHANISM_CLASSES = {
    'ANONYMOUS': Strophe.SASLAnonymous,
    'PLAIN': Strophe.SASLPlain,
    'SCRAM-SHA-1': Strophe.SASLSHA1,
    'SCRAM-SHA-256': Strophe.SASLSHA256,
    'SCRAM-SHA-384': Strophe.SASLSHA384,
    'SCRAM-SHA-512': Strophe.SASLSHA512,
};

function serviceFor(transport) {
    if (transport === 'bosh') {
        if (!env.BOSH_URL) fail('BOSH_URL is not set');
        return env.BOSH_URL;
    }
    if (transport === 'websocket') {
        if (!env.WS_URL) fail('WS_URL is not set');
        return env.WS_URL;
    }
    return fail(`unknown TRANSPORT ${JSON.stringify(transport)} (bosh or websocket)`);
}

function newConnection(transport, tag) {
    const options = {};
    if (env.MECHANISMS) {
        options.mechanisms = env.MECHANISMS.split(',').map((m) => {
            const cls = MECHANISM_CLASSES[m.trim()];
            if (!cls) fail(`unknown mechanism ${m}`);
            return cls;
        });
    }
    const conn = new Strophe.Connection(serviceFor(transport), options);
    conn.rawInput = (data) => note(`[${tag}] RECV ${data}`);
    conn.rawOutput = (data) => note(`[${tag}] SENT ${data}`);
    conn.xmlInput = () => {};
    conn.xmlOutput = () => {};
    return conn;
}

function firstElementName(elem) {
    if (!elem) return null;
    for (let n = elem.firstChild; n; n = n.nextSibling) {
        if (n.nodeType === 1) return n.localName || n.nodeName;
    }
    return null;
}

/**
 * Connect and resolve with the final status of the login: CONNECTED,
 * AUTHFAIL or CONNFAIL (with the condition / failure element).
 */
function connect(conn, jid, password, tag) {
    return new Promise((resolve) => {
        const statuses = [];
        conn.connect(jid, password, (status, condition, elem) => {
            const name = STATUS_NAMES[status] || String(status);
            statuses.push(name);
            note(`[${tag}] STATUS ${name}${condition ? ` (${condition})` : ''}`);
            if (status === Strophe.Status.CONNECTED) {
                resolve({ status: name, statuses, jid: conn.jid });
            } else if (status === Strophe.Status.AUTHFAIL) {
                resolve({ status: name, statuses, condition: firstElementName(elem) || condition || null });
            } else if (
                status === Strophe.Status.CONNFAIL ||
                status === Strophe.Status.ERROR ||
                status === Strophe.Status.CONNTIMEOUT ||
                (status === Strophe.Status.DISCONNECTED && !conn.authenticated)
            ) {
                resolve({ status: name, statuses, condition: condition || null });
            }
        });
    });
}

async function connectOrFail(conn, jid, password, tag) {
    const r = await connect(conn, jid, password, tag);
    if (r.status !== 'CONNECTED') {
        fail(`[${tag}] login as ${jid} ended in ${r.status} (${r.condition}); statuses ${r.statuses.join(' → ')}`);
    }
    return r;
}

/** Disconnect gracefully; resolve true once Strophe reports DISCONNECTED. */
function disconnect(conn, tag) {
    return new Promise((resolve) => {
        const prev = conn.connect_callback;
        const timer = setTimeout(() => resolve(false), 5000);
        conn.connect_callback = (status, condition, elem) => {
            if (prev) prev(status, condition, elem);
            if (status === Strophe.Status.DISCONNECTED) {
                clearTimeout(timer);
                note(`[${tag}] disconnected`);
                resolve(true);
            }
        };
        conn.disconnect('test done');
    });
}

function mechanismUsed(conn) {
    return conn._sasl_mechanism ? conn._sasl_mechanism.mechname : null;
}

function sendIQ(conn, iq, timeoutMs = 8000) {
    return new Promise((resolve) => {
        conn.sendIQ(iq, (res) => resolve(res), (err) => resolve(err), timeoutMs);
    }).then((elem) => {
        if (!elem) fail(`IQ ${iq.tree().getAttribute('id')} timed out`);
        return elem;
    });
}

/** Wait for the first message (with a body) arriving on conn. */
function nextMessage(conn, tag) {
    return new Promise((resolve) => {
        conn.addHandler(
            (msg) => {
                const body = msg.getElementsByTagName('body')[0];
                if (!body) return true;
                note(`[${tag}] got message from ${msg.getAttribute('from')}`);
                resolve({
                    from: msg.getAttribute('from'),
                    to: msg.getAttribute('to'),
                    type: msg.getAttribute('type'),
                    id: msg.getAttribute('id'),
                    body: body.textContent,
                });
                return false;
            },
            null,
            'message',
        );
    });
}

async function scenarioAnonymous() {
    const transport = env.TRANSPORT;
    const conn = newConnection(transport, 'main');
    const r = await connectOrFail(conn, env.DOMAIN, null, 'main');
    const mechanism = mechanismUsed(conn);
    const clean = await disconnect(conn, 'main');
    done({ mode: MODE, transport, status: r.status, jid: r.jid, mechanism, clean_disconnect: clean });
}

async function scenarioLogin() {
    const transport = env.TRANSPORT;
    const conn = newConnection(transport, 'main');
    const r = await connectOrFail(conn, env.JID, env.PASSWORD, 'main');
    const mechanism = mechanismUsed(conn);
    // A round trip on the authenticated session: ping our own server.
    const pong = await sendIQ(conn, $iq({ type: 'get', to: Strophe.getDomainFromJid(r.jid) }).c('ping', { xmlns: 'urn:xmpp:ping' }));
    const clean = await disconnect(conn, 'main');
    done({
        mode: MODE,
        transport,
        status: r.status,
        jid: r.jid,
        mechanism,
        ping_type: pong.getAttribute('type'),
        clean_disconnect: clean,
    });
}

async function scenarioWrongPassword() {
    const transport = env.TRANSPORT;
    const conn = newConnection(transport, 'main');
    const r = await connect(conn, env.JID, env.PASSWORD, 'main');
    if (r.status !== 'AUTHFAIL') {
        fail(`expected AUTHFAIL for a wrong password, got ${r.status} (${r.condition}); statuses ${r.statuses.join(' → ')}`);
    }
    done({ mode: MODE, transport, status: r.status, condition: r.condition, mechanism: mechanismUsed(conn), statuses: r.statuses });
}

// Characters that must survive XML escaping and both transports' framing.
const BODY_A = 'héllo from BOSH <b>&amp; "quotes" \'apos\' ünïcødé 🎉 ]]> \u00a0end';
const BODY_B = 'reply over WebSocket: <tag attr="x"/> & 中文 ✓';

async function scenarioMessage() {
    // A over BOSH, B over WebSocket, whatever TRANSPORT says.
    const a = newConnection('bosh', 'A/bosh');
    const b = newConnection('websocket', 'B/ws');
    const jidA = env.JID_A || env.DOMAIN;
    const jidB = env.JID_B || env.DOMAIN;
    const ra = await connectOrFail(a, jidA, env.PASSWORD_A || null, 'A/bosh');
    const rb = await connectOrFail(b, jidB, env.PASSWORD_B || null, 'B/ws');
    // Available presence, then a ping round trip on each session: a session's
    // stanzas are handled in order, so once the pong is back the server has
    // processed the presence (matters when messages go to bare JIDs).
    for (const [c, r] of [[a, ra], [b, rb]]) {
        c.send($pres());
        await sendIQ(c, $iq({ type: 'get', to: Strophe.getDomainFromJid(r.jid) }).c('ping', { xmlns: 'urn:xmpp:ping' }));
    }
    const address = (jid) => (env.TO_BARE ? Strophe.getBareJidFromJid(jid) : jid);

    const toB = nextMessage(b, 'B/ws');
    a.send($msg({ to: address(rb.jid), type: 'chat', id: 'm-a2b' }).c('body').t(BODY_A));
    const gotB = await toB;

    const toA = nextMessage(a, 'A/bosh');
    b.send($msg({ to: address(ra.jid), type: 'chat', id: 'm-b2a' }).c('body').t(BODY_B));
    const gotA = await toA;

    const cleanA = await disconnect(a, 'A/bosh');
    const cleanB = await disconnect(b, 'B/ws');
    done({
        mode: MODE,
        a_jid: ra.jid,
        b_jid: rb.jid,
        sent_a_to_b: BODY_A,
        sent_b_to_a: BODY_B,
        b_received: gotB,
        a_received: gotA,
        clean_disconnect: cleanA && cleanB,
    });
}

async function scenarioDisco() {
    const transport = env.TRANSPORT;
    const conn = newConnection(transport, 'main');
    const r = await connectOrFail(conn, env.DOMAIN, null, 'main');
    const info = await sendIQ(
        conn,
        $iq({ type: 'get', to: env.DOMAIN, id: 'disco1' }).c('query', { xmlns: Strophe.NS.DISCO_INFO }),
    );
    const identities = Array.from(info.getElementsByTagName('identity')).map((i) => ({
        category: i.getAttribute('category'),
        type: i.getAttribute('type'),
        name: i.getAttribute('name'),
    }));
    const features = Array.from(info.getElementsByTagName('feature')).map((f) => f.getAttribute('var'));
    const pong = await sendIQ(conn, $iq({ type: 'get', to: env.DOMAIN, id: 'ping1' }).c('ping', { xmlns: 'urn:xmpp:ping' }));
    const clean = await disconnect(conn, 'main');
    done({
        mode: MODE,
        transport,
        jid: r.jid,
        disco_type: info.getAttribute('type'),
        disco_from: info.getAttribute('from'),
        identities,
        features,
        ping_type: pong.getAttribute('type'),
        ping_from: pong.getAttribute('from'),
        ping_id: pong.getAttribute('id'),
        clean_disconnect: clean,
    });
}

const scenarios = {
    'anonymous': scenarioAnonymous,
    'login': scenarioLogin,
    'wrong-password': scenarioWrongPassword,
    'message': scenarioMessage,
    'disco': scenarioDisco,
};

const run = scenarios[MODE];
if (!run) {
    fail(`unknown MODE ${JSON.stringify(MODE)}; one of ${Object.keys(scenarios).join(', ')}`);
} else {
    run().catch((e) => fail(e && e.stack ? e.stack : String(e)));
}
