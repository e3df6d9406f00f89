// /ws requests with "steps": true to a masked-diffusion model: step messages carry the whole
// answer after each sampler step, masked positions as "░", fewer of them each time, before the
// block's text arrives as tokens. The first request takes the server's sampler settings (one
// step per token); the second its own ("diffusion": 2 blocks of 4, 2 steps), so exactly two
// steps that unmask 4 positions each. Usage: node --experimental-websocket ws_steps.js URL
const url = process.argv[2].replace("http", "ws") + "/ws";
const fail = (m) => { console.error("ws-steps: " + m); process.exit(1); };

function ask(message, extra) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    const steps = [];
    let text = "";
    ws.onopen = () =>
      ws.send(JSON.stringify({ message, temperature: 0, max_tokens: 8, steps: true, ...extra }));
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
      resolve(masks);
    };
    ws.onerror = (e) => fail(String(e.message));
  });
}

(async () => {
  const plain = await ask("line 3", {});
  if (plain.length !== 8) fail(`the server's settings: 8 steps expected, got ${plain.length}`);
  const own = await ask("line 4", { diffusion: { block_length: 4, steps: 2, remasking: "margin" } });
  if (own.join(" ") !== "4 0") fail(`diffusion settings: masks 4 0 expected, got ${own.join(" ")}`);
  console.log("ws-steps-ok");
})();
