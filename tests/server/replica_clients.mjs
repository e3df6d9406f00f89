// N concurrent chat clients, each holding one session through /chat for TURNS turns, streaming
// every reply. Optionally kills a replica (SIGKILL) once KILL_AFTER turns have completed, or
// tolerates 503s (while the test stops PostgreSQL). At the end every session is read back and
// must hold every turn its client saw complete, in order, with the same text.
//   env: AERO_URL AERO_KEY CLIENTS TURNS MAX_TOKENS [KILL_PID KILL_REPLICA KILL_AFTER]
//        [ALLOW_503=1] [PAUSE_MS] [ALLOW_DOWN=1]
// The kill comes once KILL_AFTER turns completed and at a moment when replica KILL_REPLICA is
// streaming at least one answer (seen by its X-Aero-Replica header), so it cuts real streams.
// Prints "replica-clients-ok" and a JSON summary.
import http from 'node:http';

const url = process.env.AERO_URL;
const key = process.env.AERO_KEY;
const clients = +(process.env.CLIENTS || 20);
const turns = +(process.env.TURNS || 3);
const maxTokens = +(process.env.MAX_TOKENS || 16);
const killPid = process.env.KILL_PID ? +process.env.KILL_PID : 0;
const killAfter = +(process.env.KILL_AFTER || 0);
const killReplica = process.env.KILL_REPLICA || 'a';
const allow503 = process.env.ALLOW_503 === '1';
const pauseMs = +(process.env.PAUSE_MS || 0);  // between a client's turns
// One replica killed and restarted by the test: requests refused while it is down are allowed.
const allowDown = process.env.ALLOW_DOWN === '1';
const words = ['fox', 'dog', 'cat', 'bird', 'tree', 'river', 'stone', 'cloud', 'rain', 'sun'];
const H = { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' };

let completed = 0;
let completedAfterKill = 0;  // turns begun after the kill that completed (recovery)
let killedAt = 0;  // ms since epoch; 0 while no replica was killed
let streamingAtKill = 0;
const byReplica = {};
const streaming = {};  // answers whose headers came and whose end did not, by replica

function maybeKill() {
  if (!killPid || killedAt || completed < killAfter || !(streaming[killReplica] > 0)) return;
  killedAt = Date.now();
  streamingAtKill = streaming[killReplica];
  process.kill(killPid, 'SIGKILL');
  console.log(`killed replica ${killReplica} (pid ${killPid}) after ${completed} completed turns, ` +
              `${streamingAtKill} answers streaming from it`);
}
const errors = [];  // {client, turn, start, end, what, allowed}

async function turn(c, t, sessionId) {
  const message = `tell me about the ${words[(c + t) % words.length]} number ${c}-${t}`;
  const body = { message, max_tokens: maxTokens, temperature: 0.8, seed: c * 100 + t };
  if (sessionId) body.session_id = sessionId;
  const start = Date.now();
  try {
    // node:http rather than fetch: undici's fetch takes a chunked body cut by the server's close
    // (Connection: close) for a complete one; res.complete tells them apart. A reply counts as
    // streaming from its replica once its headers came.
    let replica = '?';
    const res = await new Promise((resolve, reject) => {
      const req = http.request(`${url}/chat`, { method: 'POST', headers: H }, (r) => {
        replica = r.headers['x-aero-replica'] || '?';
        streaming[replica] = (streaming[replica] || 0) + 1;
        maybeKill();
        let text = '';
        r.setEncoding('utf8');
        r.on('data', (d) => (text += d));
        r.on('error', () => {});
        r.on('close', () => {
          streaming[replica]--;
          if (!r.complete) reject(new Error('terminated: the stream was cut before its end'));
          else resolve({ status: r.statusCode, headers: r.headers, text });
        });
      });
      req.on('error', reject);
      req.end(JSON.stringify(body));
    });
    const text = res.text;
    if (res.status !== 200) {
      const e = new Error(`status ${res.status}: ${text.slice(0, 200)}`);
      e.status = res.status;
      e.body = text;
      throw e;
    }
    const sid = res.headers['x-session-id'];
    byReplica[replica] = (byReplica[replica] || 0) + 1;
    completed++;
    if (killedAt && start > killedAt) completedAfterKill++;
    maybeKill();
    return { ok: true, sid, message, reply: text };
  } catch (e) {
    const end = Date.now();
    // In flight on the killed replica: started before the kill, ended by it.
    let allowed = killedAt > 0 && start <= killedAt + 50;
    const refused = /ECONNREFUSED|ECONNRESET|socket hang up|terminated/.test(
        String(e.message) + String(e.code));
    if (allowDown && killedAt > 0 && refused) allowed = true;
    if (allow503 && e.status === 503) {
      const msg = JSON.parse(e.body).error.message;
      if (!/unavailable/.test(msg)) throw new Error(`503 without a clear message: ${msg}`);
      allowed = true;
    }
    errors.push({ client: c, turn: t, start, end, what: String(e.message || e), allowed });
    // A failed first turn may have started a session of its own, which the client never learnt.
    // A refused connection never reached a server: nothing of it can be stored.
    const notSent = /ECONNREFUSED/.test(String(e.message) + String(e.code));
    return { ok: false, message, sessionless: !sessionId, notSent };
  }
}

async function client(c) {
  let sid = null;
  const log = [];  // every turn attempted: {message, reply?, ok}
  for (let t = 0; t < turns; t++) {
    let r = await turn(c, t, sid);
    // A first turn that failed has no session yet, and a turn refused while the replica is down
    // (a slow restart, e.g. under ThreadSanitizer) never reached it: try again, as a client
    // would; a refused attempt leaves nothing to check.
    for (let i = 0; !r.ok && (!sid || (allowDown && r.notSent)) && i < 100; i++) {
      if (!r.notSent) log.push(r);
      await new Promise((ok) => setTimeout(ok, 100));
      r = await turn(c, t, sid);
    }
    if (r.ok) sid = r.sid;
    log.push(r);
    if (!r.ok || pauseMs) await new Promise((ok) => setTimeout(ok, r.ok ? pauseMs : 100));
  }
  return { sid, log };
}

const t0 = Date.now();
const results = await Promise.all([...Array(clients).keys()].map(client));
const seconds = (Date.now() - t0) / 1000;

// Every session holds every turn its client saw complete; a turn the client saw fail may be
// there too (stored, then the replica died before the last byte) but nothing else.
let checked = 0;
for (const [c, { sid, log }] of results.entries()) {
  if (!sid) throw new Error(`client ${c} never got a session: ${JSON.stringify(errors.filter((e) => e.client === c))}`);
  let res, s;
  for (let i = 0; ; i++) {  // the store may still be coming back
    res = await fetch(`${url}/v1/sessions/${sid}`, { headers: H });
    if (res.status === 200 || i >= 50) break;
    await new Promise((ok) => setTimeout(ok, 200));
  }
  s = await res.json();
  if (res.status !== 200) throw new Error(`session ${sid}: ${res.status} ${JSON.stringify(s)}`);
  const msgs = s.messages;
  let i = 0;
  for (const turn of log) {
    const at = msgs[i];
    if (turn.ok) {
      if (!at || at.role !== 'user' || at.content !== turn.message)
        throw new Error(`session ${sid} lost the completed turn "${turn.message}" (at ${i}: ${JSON.stringify(at)})`);
      if (msgs[i + 1]?.content !== turn.reply)
        throw new Error(`session ${sid}: stored reply differs from what the client saw for "${turn.message}"`);
      i += 2;
      checked++;
    } else if (!turn.sessionless && at && at.role === 'user' && at.content === turn.message) {
      i += 2;  // stored before the cut
    }
  }
  if (i !== msgs.length) throw new Error(`session ${sid} holds ${msgs.length - i} messages no client sent`);
}

const bad = errors.filter((e) => !e.allowed);
if (killPid && !killedAt) throw new Error(`replica ${killReplica} was never killed`);
if (killPid && !completedAfterKill) throw new Error('no turn completed after the kill');
const summary = {
  clients, turns, seconds, completed, turns_checked: checked, by_replica: byReplica,
  streaming_on_killed_replica: streamingAtKill, completed_after_kill: completedAfterKill,
  errors: errors.length, errors_in_flight_or_allowed: errors.length - bad.length,
  unexpected_errors: bad.length,
};
console.log(JSON.stringify(summary));
if (bad.length) {
  console.log(JSON.stringify(bad.slice(0, 10), null, 1));
  process.exit(1);
}
console.log('replica-clients-ok');
