// The aero chat page: streams replies over /ws, keeps sessions on the server (GET/DELETE
// /v1/sessions), remembers the API key and sampling settings in localStorage. No build step.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { session: localStorage.getItem("aero.session") || "", busy: false };

for (const id of ["key", "temperature", "top_p", "top_k", "max_tokens"]) {
  const saved = localStorage.getItem("aero." + id);
  if (saved !== null) $(id).value = saved;
  $(id).addEventListener("change", () => {
    localStorage.setItem("aero." + id, $(id).value);
    if (id === "key") refreshSessions();
  });
}

function status(text, isError = false) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

function headers() {
  const key = $("key").value.trim();
  return key ? { Authorization: "Bearer " + key } : {};
}

function addMessage(role, text) {
  const div = document.createElement("div");
  div.className = "msg " + role;
  div.textContent = text;
  $("log").appendChild(div);
  $("log").scrollTop = $("log").scrollHeight;
  return div;
}

async function api(path, options = {}) {
  const res = await fetch(path, { ...options, headers: { ...headers(), ...(options.headers || {}) } });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error((body.error && body.error.message) || res.statusText);
  return body;
}

async function refreshSessions() {
  try {
    const list = await api("/v1/sessions");
    const ul = $("sessions");
    ul.replaceChildren();
    for (const s of list.data) {
      const li = document.createElement("li");
      li.className = s.id === state.session ? "current" : "";
      const span = document.createElement("span");
      span.textContent = s.title || s.id;
      span.title = s.id;
      span.onclick = () => openSession(s.id);
      const del = document.createElement("button");
      del.textContent = "×";
      del.title = "Delete this session";
      del.onclick = async () => {
        await api("/v1/sessions/" + s.id, { method: "DELETE" });
        if (s.id === state.session) newChat();
        refreshSessions();
      };
      li.append(span, del);
      ul.appendChild(li);
    }
  } catch (e) {
    status(e.message, true);
  }
}

async function openSession(id) {
  try {
    const s = await api("/v1/sessions/" + id);
    state.session = id;
    localStorage.setItem("aero.session", id);
    $("log").replaceChildren();
    for (const m of s.messages) addMessage(m.role, m.content);
    refreshSessions();
  } catch (e) {
    status(e.message, true);
  }
}

function newChat() {
  state.session = "";
  localStorage.removeItem("aero.session");
  $("log").replaceChildren();
  refreshSessions();
}

function sampling() {
  const out = {};
  for (const id of ["temperature", "top_p"]) out[id] = parseFloat($(id).value);
  for (const id of ["top_k", "max_tokens"]) out[id] = parseInt($(id).value, 10);
  return out;
}

function send(message) {
  if (state.busy || !message.trim()) return;
  state.busy = true;
  $("send").disabled = true;
  addMessage("user", message);
  const reply = addMessage("assistant", "");
  const key = $("key").value.trim();
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const url = proto + "//" + location.host + "/ws" + (key ? "?api_key=" + encodeURIComponent(key) : "");
  const ws = new WebSocket(url);
  const t0 = performance.now();
  status("generating…");
  const done = () => {
    state.busy = false;
    $("send").disabled = false;
  };
  ws.onopen = () => {
    const msg = { message, ...sampling() };
    if (state.session) msg.session_id = state.session;
    ws.send(JSON.stringify(msg));
  };
  ws.onmessage = (ev) => {
    const m = JSON.parse(ev.data);
    if (m.type === "start") {
      state.session = m.session_id;
      localStorage.setItem("aero.session", m.session_id);
    } else if (m.type === "token") {
      reply.textContent += m.text;
      $("log").scrollTop = $("log").scrollHeight;
    } else if (m.type === "end") {
      const s = ((performance.now() - t0) / 1000).toFixed(2);
      status(`${m.usage.completion_tokens} tokens in ${s} s (${m.finish_reason})`);
      ws.close();
      done();
      refreshSessions();
    } else if (m.type === "error") {
      status(m.error.message, true);
      reply.remove();
      ws.close();
      done();
    }
  };
  ws.onerror = () => {
    status("connection failed (is the API key right?)", true);
    done();
  };
}

$("form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const text = $("message").value;
  $("message").value = "";
  send(text);
});
$("message").addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && !ev.shiftKey) {
    ev.preventDefault();
    $("form").requestSubmit();
  }
});
$("new").addEventListener("click", newChat);
if (state.session) openSession(state.session);
else refreshSessions();
