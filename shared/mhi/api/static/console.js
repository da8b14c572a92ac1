// MHI run console: refresh while runs are active; actions with confirmation through the JSON API.
"use strict";

function runsSignature(body) {
  return body.runs.map((r) => `${r.run_id}:${r.status}:${r.generation}`).join("|");
}

function runSignature(body) {
  return `${body.status}:${body.generation}:${body.paused}`;
}

function poll() {
  const url = document.body.dataset.poll;
  if (!url) return;
  const every = Math.max(Number(document.body.dataset.every) || 2000, 1000);
  const tick = async () => {
    try {
      const answer = await fetch(url, { headers: { Accept: "application/json" } });
      if (answer.ok) {
        const body = await answer.json();
        const sig = Array.isArray(body.runs) ? runsSignature(body) : runSignature(body);
        if (sig !== document.body.dataset.sig) { window.location.reload(); return; }
      }
    } catch (err) { /* the server restarting: try again at the next tick */ }
    window.setTimeout(tick, every);
  };
  window.setTimeout(tick, every);
}

function parsed(id, name) {
  const field = document.getElementById(id);
  const text = field ? field.value.trim() : "";
  if (!text) return undefined;
  try { return JSON.parse(text); } catch (err) { throw new Error(`${name}: not JSON (${err.message})`); }
}

function bodyOf(button) {
  const body = JSON.parse(button.dataset.body || "{}");
  if (button.dataset.action === "rerun-from") body.from_step = document.getElementById("from-step").value;
  if (button.dataset.action === "replay") {
    const edits = parsed("replay-set", "edits");
    const params = parsed("replay-params", "params");
    if (edits !== undefined) body.set = edits;
    if (params !== undefined) body.params = params;
  }
  return body;
}

async function act(button) {
  const result = document.getElementById("action-result");
  let body;
  try { body = bodyOf(button); } catch (err) { result.textContent = err.message; return; }
  if (!window.confirm(button.dataset.confirm)) return;
  result.textContent = "…";
  const answer = await fetch(button.dataset.url, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body),
  });
  const reply = await answer.json().catch(() => ({}));
  if (!answer.ok) {
    const error = reply.error || {};
    result.textContent = `Refused (${answer.status}): ${error.message || answer.statusText}`;
    result.className = "error";
    return;
  }
  result.textContent = `Done: ${JSON.stringify(reply)}`;
  window.setTimeout(() => window.location.reload(), 600);
}

function zoomable() {
  for (const svg of document.querySelectorAll("svg.dag, svg.gantt")) {
    const width = Number(svg.getAttribute("width"));
    const tools = document.createElement("div");
    tools.className = "zoom";
    let scale = 1;
    const set = (next) => {
      scale = Math.min(Math.max(next, 0.25), 4);
      svg.style.width = `${Math.round(width * scale)}px`;
      svg.style.height = "auto";
      svg.dataset.scale = String(scale);
    };
    for (const [label, change] of [["−", 0.8], ["+", 1.25], ["1:1", 0]]) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = label;
      button.setAttribute("aria-label", label === "1:1" ? "actual size" : `zoom ${label}`);
      button.addEventListener("click", () => set(change ? scale * change : 1));
      tools.appendChild(button);
    }
    svg.parentElement.before(tools);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  poll();
  zoomable();
  for (const button of document.querySelectorAll("button[data-action]")) {
    button.addEventListener("click", () => act(button));
  }
});
