// A /ws request with "steps": true to a masked-diffusion model: step messages carry the whole
// answer after each sampler step, masked positions as "░", fewer of them each time, before the
// block's text arrives as tokens. Usage: node --experimental-websocket ws_steps.js URL
const ws = new WebSocket(process.argv[2].replace("http", "ws") + "/ws");
const steps = [];
let text = "";
const fail = (m) => { console.error("ws-steps: " + m); process.exit(1); };
ws.onopen = () => ws.send(JSON.stringify({ message: "line 3", temperature: 0, max_tokens: 8, steps: true }));
ws.onmessage = (e) => {
  const m = JSON.parse(e.data);
  if (m.type === "step") steps.push(m.text);
  if (m.type === "token") text += m.text;
  if (m.type === "error") fail(m.error.message);
  if (m.type !== "end") return;
  ws.close();
  const masks = steps.map((s) => [...s].filter((c) => c === "\u2591").length);
  console.log(`ws-steps: ${steps.length} steps, masks ${masks.join(" ")}, text "${text}"`);
  if (steps.length < 2) fail("expected a step message per sampler step");
  if (masks[0] < 1) fail("the first step shows no masked position");
  if (masks[masks.length - 1] !== 0) fail("the last step still shows masks");
  for (let i = 1; i < masks.length; i++) if (masks[i] > masks[i - 1]) fail("masks grew");
  console.log("ws-steps-ok");
};
ws.onerror = (e) => fail(String(e.message));
