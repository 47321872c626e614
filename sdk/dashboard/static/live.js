// Live parts of the pages, fed by server-sent events. Each element with data-events gets
// the stream at that URL; the pages work without this script, only not live.
"use strict";

const MAX_LIVE_ROWS = 200;

function followRuns(table) {
  const body = table.tBodies[0];
  const source = new EventSource(table.dataset.events);
  source.addEventListener("run", (event) => {
    const change = JSON.parse(event.data);
    const holder = document.createElement("tbody");
    holder.innerHTML = change.html;
    const row = holder.firstElementChild;
    const old = document.getElementById("run-" + change.id);
    if (old) {
      old.replaceWith(row);
    } else {
      body.prepend(row);
      // A busy server starts many runs: keep the page to the newest rows.
      while (body.rows.length > MAX_LIVE_ROWS) body.deleteRow(-1);
    }
  });
}

function followLogs(table) {
  const body = table.tBodies[0];
  const seen = new Set(Array.from(body.rows, (row) => row.dataset.logId));
  const source = new EventSource(table.dataset.events);
  source.addEventListener("log", (event) => {
    const record = JSON.parse(event.data);
    if (record.id && seen.has(record.id)) {
      return;
    }
    seen.add(record.id);
    const row = body.insertRow();
    row.dataset.logId = record.id || "";
    for (const [name, text] of [["time", record.time], ["level", record.level],
                                ["logger", record.logger], ["message", record.message]]) {
      const cell = row.insertCell();
      cell.className = name;
      if (name === "message") {
        const pre = document.createElement("pre");
        pre.textContent = text;
        cell.append(pre);
      } else {
        cell.textContent = text;
      }
    }
  });
}

function followState(badge) {
  const source = new EventSource(badge.dataset.events);
  source.addEventListener("state", (event) => {
    const state = JSON.parse(event.data);
    badge.textContent = state.name;
    badge.className = "badge state-" + state.type.toLowerCase();
    if (state.final) {
      // The run is over: load the page again for its final timeline, states and artifacts.
      source.close();
      window.location.reload();
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const runs = document.querySelector("table#runs[data-events]");
  if (runs) followRuns(runs);
  const logs = document.querySelector("table#logs[data-events]");
  if (logs) followLogs(logs);
  const state = document.querySelector("#run-state[data-events]");
  if (state) followState(state);
});
