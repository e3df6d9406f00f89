// The chat page in headless Chromium (Debian's) driven by playwright-core: enter the API key,
// send a message, see the reply stream in, see the session listed, reload and find it kept.
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(90000);  // Chromium on 2 busy cores can be slow; the server is not
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(process.env.AERO_URL + "/");
  assert.equal(await page.title(), "aero chat");
  await page.fill("#key", process.env.AERO_KEY);
  await page.dispatchEvent("#key", "change");
  await page.fill("#max_tokens", "24");
  await page.dispatchEvent("#max_tokens", "change");
  await page.fill("#message", "tell me about the cloud");
  await page.press("#message", "Enter");
  await page.waitForSelector(".msg.user");
  // Streamed: the reply grows while the status says "generating", then the end shows usage.
  await page.waitForFunction(() => document.querySelector("#status").textContent.includes("tokens in"));
  const reply = await page.textContent(".msg.assistant");
  assert.ok(reply.length > 0, "a reply");
  console.log("reply:", JSON.stringify(reply), "|", await page.textContent("#status"));
  await page.waitForSelector("#sessions li");
  assert.match(await page.textContent("#sessions li span"), /tell me about the cloud/);
  await page.reload();
  await page.waitForSelector(".msg.assistant");
  assert.equal(await page.textContent(".msg.assistant"), reply, "the session is reloaded from the server");
  assert.deepEqual(errors, []);
} finally {
  await browser.close();
}
