// One /chat turn whose reply is generated while PostgreSQL is down: 100 streamed completions
// are admitted first (the replica runs --max-batch 1, so they queue ahead of the turn); when
// the turn's headers arrive (it is admitted: the store answered) the replica is paused, PG_DOWN
// runs, the replica resumes and generates the reply during the outage. The turn must not end
// while the store is down; PG_UP runs; then it must end normally. Prints the session id and
// the reply as JSON, then "outage-turn-ok".
//   env: AERO_URL AERO_KEY REPLICA_PID PG_DOWN PG_UP (shell commands)
import { execSync } from 'node:child_process';
const url = process.env.AERO_URL;
const H = { Authorization: `Bearer ${process.env.AERO_KEY}`, 'Content-Type': 'application/json' };
const pid = +process.env.REPLICA_PID;
const ahead = await Promise.all([...Array(100).keys()].map((i) =>
  fetch(`${url}/v1/completions`, {
    method: 'POST', headers: H,
    body: JSON.stringify({ prompt: 'User: tell me', max_tokens: 180, temperature: 2, seed: i, stream: true }),
  })));
if (ahead.some((r) => r.status !== 200)) throw new Error('completions not admitted');
const res = await fetch(`${url}/chat`, {
  method: 'POST', headers: H, body: JSON.stringify({ message: 'tell me about the sun', max_tokens: 60 }),
});
process.kill(pid, 'SIGSTOP');
if (res.status !== 200) throw new Error(`turn: ${res.status}`);
execSync(process.env.PG_DOWN, { stdio: 'inherit' });
process.kill(pid, 'SIGCONT');
let ended = false;
const body = res.text().then((t) => { ended = true; return t; });
await new Promise((ok) => setTimeout(ok, 3000));
if (ended) throw new Error(`the turn ended while the store was down: ${await body}`);
execSync(process.env.PG_UP, { stdio: 'inherit' });
const reply = await body;  // throws if the stream was cut
await Promise.all(ahead.map((r) => r.text()));
console.log(JSON.stringify({ session_id: res.headers.get('x-session-id'), reply }));
console.log('outage-turn-ok');
