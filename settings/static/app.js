// Settings > Webhooks. Plain DOM, no framework, no build step. Every value
// from the server is put in the page with textContent, never as HTML.
"use strict";

const EVENTS = ["record.created", "record.updated", "record.deleted", "stage.changed", "status.changed", "assignment.changed"];
const OPS = [["equals", "equals"], ["not_equals", "does not equal"], ["changed", "changed"], ["changed_from", "changed from"], ["changed_to", "changed to"]];
const PREVIEW = 500;
const STATUS_CLEAR_MS = 8000;

const state = { ws: "", token: "", denied: false, hooks: [], config: { temporal_ui: "", namespace: "default", workspace: "yourcompany" }, editing: null, busy: new Set(), logs: new Set(), reenabled: {}, testSeq: {} };
const TOKEN_KEY = "hari.apiToken";
const $ = (sel, root = document) => root.querySelector(sel);

function el(tag, attrs = {}, ...children) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") n.className = v;
    else if (k === "text") n.textContent = v;
    else if (k.startsWith("on")) n.addEventListener(k.slice(2), v);
    else n.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) n.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return n;
}

// The API token arrives in the address's fragment (#token=...), which is
// never sent to a server; it is kept in this tab's sessionStorage and
// taken out of the address bar, so it is neither bookmarked nor shared.
function takeToken() {
  const frag = new URLSearchParams(location.hash.slice(1));
  const t = frag.get("token");
  if (t) {
    try { sessionStorage.setItem(TOKEN_KEY, t); } catch (e) { /* storage off: this page view only */ }
    history.replaceState(null, "", location.pathname + location.search);
    return t;
  }
  try { return sessionStorage.getItem(TOKEN_KEY) || ""; } catch (e) { return ""; }
}

async function api(method, path, body) {
  const opts = { method, headers: {} };
  if (state.token) opts.headers["Authorization"] = "Bearer " + state.token;
  if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
  let resp;
  try { resp = await fetch(path, opts); } catch (e) { throw { code: "network", message: "The webhook service cannot be reached." }; }
  if (resp.status === 204) return null;
  let data = null;
  try { data = await resp.json(); } catch (e) { /* not JSON */ }
  if (resp.status === 401) throw { code: "unauthorized", message: "You are not signed in, or your session has expired. Open Settings › Webhooks again from HARi to get a new link." };
  if (resp.status === 403 && data && data.error && data.error.code === "forbidden") throw { code: "forbidden", message: "You do not have access to the webhooks of workspace “" + state.ws + "”. Open the Settings page of your own workspace." };
  if (!resp.ok) throw (data && data.error) || { code: "http_" + resp.status, message: "Request failed with HTTP " + resp.status };
  return data;
}

const denied = (e) => e && (e.code === "unauthorized" || e.code === "forbidden");

const base = () => "/api/v1/workspaces/" + encodeURIComponent(state.ws) + "/webhooks";

// say puts a message in the status line: a confirmation in the polite
// status region (#status), written only when its text changes, clearing
// itself after a while; an error in the alert region (#alert), written
// once per new error, staying until the next message. Nothing else on the
// page is a live region that a reload rewrites, so each change is
// announced once.
let sayTimer = 0;
function say(msg, isError) {
  const s = $("#status"), a = $("#alert");
  clearTimeout(sayTimer);
  const [to, other] = isError ? [a, s] : [s, a];
  if (other.textContent) other.textContent = "";
  if (isError || to.textContent !== msg) to.textContent = msg;
  if (msg && !isError) sayTimer = setTimeout(() => { if (s.textContent === msg) s.textContent = ""; }, STATUS_CLEAR_MS);
}

// took writes a duration for people: "850 ms", "10.0 s"; durations are
// recorded in whole milliseconds, so 0 is "under 1 ms" (a refused
// connection, a failed DNS lookup), never "0 ms".
function took(ms) {
  if (typeof ms !== "number" || isNaN(ms)) return "—";
  if (ms < 1) return "under 1 ms";
  return ms < 1000 ? ms + " ms" : (ms / 1000).toFixed(1) + " s";
}

// explained shows a failure in plain language with its next step (help
// from the API), and the raw error behind a disclosure.
function explained(help, raw) {
  const words = help ? [help.problem, " ", el("span", { class: "next-step", text: help.next })] : [raw];
  const details = help && raw ? el("details", { class: "raw" }, el("summary", { text: "Technical details" }), el("code", { text: raw })) : null;
  return [el("span", { class: "problem" }, ...words), details];
}

function ago(iso) {
  const t = new Date(iso);
  if (isNaN(t)) return "";
  const s = Math.round((Date.now() - t) / 1000);
  if (s < 60) return s + " s ago";
  if (s < 3600) return Math.round(s / 60) + " min ago";
  if (s < 86400) return Math.round(s / 3600) + " h ago";
  return t.toLocaleString();
}

// refocus moves focus to target when a re-render took it away (it is on
// the body), never away from where the user has gone since.
function refocus(target) {
  if (target && (!document.activeElement || document.activeElement === document.body)) target.focus();
}

// refocusMenu puts focus back on a row's menu button once load() rebuilt
// the table under the action the user took.
function refocusMenu(id) {
  refocus($(`tr[data-id="${CSS.escape(id)}"] button[data-action="menu"]`));
}

// ---- list -----------------------------------------------------------------

// load reads the webhooks and rebuilds the rows; afterRender runs once
// they are rebuilt, before their results, logs and health are read.
async function load(afterRender) {
  document.body.dataset.loading = "true"; // the rows are about to be rebuilt
  try {
    const data = await api("GET", base());
    state.hooks = data.webhooks || [];
    state.denied = false;
  } catch (e) {
    say(e.message, true);
    state.hooks = [];
    state.denied = denied(e);
  }
  render();
  delete document.body.dataset.loading;
  if (afterRender) afterRender();
  announceDisabled();
  await Promise.all(state.hooks.map(async (h) => {
    await Promise.all([loadTest(h.id), loadLast(h.id), loadHealth(h.id)]);
    if (state.logs.has(h.id)) await loadLog(h.id);
  }));
}

// render shows state.hooks in place, keyed by webhook ID: a row whose
// webhook (and busy, log-open, notice state) did not change keeps its
// element, and every webhook keeps its Test fire panel and Delivery log
// rows, so an action on one webhook (Save, Activate, Deactivate, Delete,
// Re-enable) leaves the others' open logs, disclosures and focus alone.
function render() {
  const tbody = $("#hooks tbody");
  $("#empty").hidden = state.hooks.length > 0 || state.denied;
  $("#new-btn").disabled = state.denied;
  $("#hooks").hidden = state.hooks.length === 0;
  const rows = [];
  for (const h of state.hooks) {
    const sig = JSON.stringify([h, state.busy.has(h.id), state.logs.has(h.id), !!state.reenabled[h.id]]);
    const keyed = (id, build) => {
      const old = document.getElementById(id);
      if (old && old._sig === sig) return old;
      const fresh = build();
      fresh.id = id;
      fresh._sig = sig;
      return fresh;
    };
    rows.push(keyed("hook-row-" + h.id, () => hookRow(h)));
    if (h.state === "disabled" || state.reenabled[h.id]) rows.push(keyed("notice-row-" + h.id, () => el("tr", { class: "notice-row" }, el("td", { colspan: "8" }, disabledNotice(h)))));
    const panel = document.getElementById("panel-row-" + h.id) ||
      el("tr", { class: "panel-row", id: "panel-row-" + h.id, hidden: true }, el("td", { colspan: "8" }, el("div", { class: "panel", id: "panel-" + h.id, role: "region" })));
    panel.querySelector(".panel").setAttribute("aria-label", "Test fire result for " + h.name);
    const log = document.getElementById("log-row-" + h.id) ||
      el("tr", { class: "log-row", id: "log-row-" + h.id }, el("td", { colspan: "8" }, el("div", { class: "log", id: "log-" + h.id })));
    log.hidden = !state.logs.has(h.id);
    rows.push(panel, log);
  }
  rows.forEach((r, i) => { if (tbody.children[i] !== r) tbody.insertBefore(r, tbody.children[i] || null); });
  while (tbody.children.length > rows.length) tbody.lastElementChild.remove();
}

// hookRow is one webhook's row: what it is, its state, its actions.
function hookRow(h) {
  const testBtn = el("button", { type: "button", class: "test primary", "data-action": "test", "aria-describedby": "name-" + h.id, onclick: () => testFire(h.id) }, "Test fire");
  if (state.busy.has(h.id)) { testBtn.disabled = true; testBtn.textContent = "Testing…"; testBtn.setAttribute("aria-busy", "true"); }
  return el("tr", { "data-id": h.id, class: "hook" },
    el("td", { "data-label": "Name" }, el("span", { id: "name-" + h.id, class: "name", text: h.name })),
    el("td", { "data-label": "URL", class: "url-cell" }, el("div", { class: "url-wrap" },
      urlText(h.url),
      el("button", { type: "button", class: "copy", "data-action": "copy-url", "aria-label": "Copy the URL of " + h.name, onclick: () => copyURL(h) }, "Copy"))),
    el("td", { "data-label": "Events" }, el("span", { text: h.entity + ": " + h.events.join(", ") })),
    el("td", { "data-label": "Conditions", text: h.conditions.length ? h.conditions_text : "None: every " + h.entity + " event above" }),
    el("td", { "data-label": "State" }, stateBadge(h)),
    el("td", { "data-label": "Last delivery", class: "last", id: "last-" + h.id, text: "—" }),
    el("td", { "data-label": "Health", class: "health", id: "health-" + h.id, text: "—" }),
    el("td", { class: "actions-cell" }, el("div", { class: "row-actions" },
      testBtn,
      el("button", { type: "button", "data-action": "log", "aria-expanded": state.logs.has(h.id) ? "true" : "false", "aria-controls": "log-" + h.id, onclick: () => toggleLog(h.id) }, "Delivery log"),
      menu(h, [
        ["edit", "Edit", () => openEditor(h)],
        ["toggle", h.active ? "Deactivate" : "Activate", () => setActive(h, !h.active)],
        ["delete", "Delete", () => remove(h), "danger"],
      ]))));
}

// menu is an overflow menu (a menu button and its items): Enter, Space or
// a click opens it on its first item; arrows move; Escape closes it and
// returns to the button.
function menu(h, items) {
  const btn = el("button", { type: "button", class: "menu-btn", "data-action": "menu", "aria-haspopup": "menu", "aria-expanded": "false", "aria-controls": "menu-" + h.id, "aria-label": "More actions for " + h.name }, "⋯");
  const list = el("div", { role: "menu", id: "menu-" + h.id, class: "menu", hidden: true, "aria-label": "Actions for " + h.name });
  const entries = items.map(([action, label, run, cls]) => el("button", { type: "button", role: "menuitem", tabindex: "-1", "data-action": action, class: cls, onclick: () => { close(true); run(); } }, label));
  list.append(...entries);
  function close(focus) {
    list.hidden = true;
    btn.setAttribute("aria-expanded", "false");
    if (focus) btn.focus();
  }
  btn.addEventListener("click", () => {
    const open = list.hidden;
    closeMenus();
    if (!open) return;
    list.hidden = false;
    btn.setAttribute("aria-expanded", "true");
    entries[0].focus();
  });
  list.addEventListener("keydown", (e) => {
    const i = entries.indexOf(document.activeElement);
    if (e.key === "Escape") { e.preventDefault(); close(true); }
    else if (e.key === "ArrowDown") { e.preventDefault(); entries[(i + 1) % entries.length].focus(); }
    else if (e.key === "ArrowUp") { e.preventDefault(); entries[(i - 1 + entries.length) % entries.length].focus(); }
    else if (e.key === "Tab") close(false);
  });
  return el("div", { class: "menu-wrap" }, btn, list);
}

function closeMenus() {
  for (const m of document.querySelectorAll(".menu:not([hidden])")) {
    m.hidden = true;
    const b = m.parentElement.querySelector(".menu-btn");
    if (b) b.setAttribute("aria-expanded", "false");
  }
}

// urlText shows a URL with its scheme and host whole and its path cut
// with an ellipsis when the column is too narrow (CSS does the cutting);
// the full URL is in the title and Copy copies it.
function urlText(url) {
  let origin = url, rest = "";
  try {
    const u = new URL(url);
    origin = u.origin;
    rest = url.startsWith(origin) ? url.slice(origin.length) : u.href.slice(u.origin.length);
  } catch (e) { /* not a URL: shown whole, cut at the end */ }
  return el("code", { class: "url", title: url, "data-test": "url" },
    el("span", { class: "url-host", "data-test": "url-host", text: origin }),
    rest ? el("span", { class: "url-path", "data-test": "url-path", text: rest }) : null);
}

// copyURL puts a webhook's full URL on the clipboard.
async function copyURL(h) {
  try {
    await navigator.clipboard.writeText(h.url);
    say("Copied the URL of " + h.name + ".");
  } catch (e) {
    say("The browser did not allow copying; select the URL in the form instead (Edit).", true);
  }
}

// stateBadge tells a manual deactivation (Inactive) from HARi's automatic
// disable (Disabled).
function stateBadge(h) {
  if (h.state === "disabled") return el("span", { class: "badge failed disabled", text: "Disabled" });
  return el("span", { class: "badge " + (h.active ? "on" : "off"), text: h.active ? "Active" : "Inactive" });
}

// disabledNotice explains an automatic disable and offers Re-enable; once
// re-enabled, it offers to recover what was missed.
function disabledNotice(h) {
  const back = state.reenabled[h.id];
  if (back) {
    return el("div", { class: "notice", id: "notice-" + h.id },
      el("strong", {}, "Re-enabled. "), "Send again what failed or was not sent since " + new Date(back).toLocaleString() + "? ",
      el("button", { type: "button", "data-action": "recover-missed", onclick: async () => {
        delete state.reenabled[h.id];
        if (!state.logs.has(h.id)) { state.logs.add(h.id); }
        await load();
        startRecovery(h.id, back);
      } }, "Recover missed deliveries"), " ",
      el("button", { type: "button", onclick: () => { delete state.reenabled[h.id]; render(); load(); } }, "Not now"));
  }
  return el("div", { class: "notice disabled", id: "notice-" + h.id },
    el("strong", {}, "Disabled by HARi on " + new Date(h.disabled_at).toLocaleString() + ": "),
    el("span", { class: "reason", id: "reason-" + h.id }, "its deliveries kept failing. "),
    el("details", { class: "raw" }, el("summary", { text: "Technical details" }), el("code", { text: h.disabled_reason })), " ",
    el("span", { class: "not-sent", id: "not-sent-" + h.id }), "Test fire still works, so you can check the fix first. ",
    el("button", { type: "button", "data-action": "reenable", onclick: () => reenable(h) }, "Re-enable"));
}

// announceDisabled says once (in the alert region) that HARi disabled a
// webhook; the notice in its row, rebuilt by every load, is not a live
// region, so a reload does not say it again.
const announced = new Set();
function announceDisabled() {
  const fresh = state.hooks.filter((h) => h.state === "disabled" && !announced.has(h.id + "@" + h.disabled_at));
  for (const h of fresh) announced.add(h.id + "@" + h.disabled_at);
  if (fresh.length) say(fresh.map((h) => "HARi disabled " + h.name + ": its deliveries kept failing.").join(" ") + " The notice under its row says what to do.", true);
}

async function reenable(h) {
  try {
    const health = (await api("GET", base() + "/" + encodeURIComponent(h.id))).health;
    await api("POST", base() + "/" + encodeURIComponent(h.id) + "/activate");
    state.reenabled[h.id] = (health && health.failing_since) || h.disabled_at;
    say(h.name + " re-enabled.");
    await load();
    refocusMenu(h.id);
  } catch (e) { say(e.message, true); }
}

// loadHealth shows the endpoint's health on its row: the 24 h success
// rate, the failed deliveries in a row and since when, the last error.
async function loadHealth(id) {
  const cell = document.getElementById("health-" + id);
  let h, w;
  try { w = await api("GET", base() + "/" + encodeURIComponent(id)); h = w.health; } catch (e) { h = null; }
  const ns = document.getElementById("not-sent-" + id);
  const reason = document.getElementById("reason-" + id);
  if (reason && h && h.last_help) reason.replaceChildren(h.consecutive_failures + (h.more ? "+" : "") + " deliveries failed in a row. The last: ", h.last_help.problem, " ", el("span", { class: "next-step", text: h.last_help.next }), " ");
  if (ns && w && typeof w.not_sent_while_disabled === "number") ns.textContent = w.not_sent_while_disabled + (w.not_sent_while_disabled === 1 ? " event" : " events") + " not sent while disabled. ";
  if (!cell) return;
  if (!h) { cell.textContent = "—"; return; }
  const shown = JSON.stringify(h); // unchanged: keep the cell (and an open disclosure) as it is
  if (cell.dataset.shown === shown) return;
  cell.dataset.shown = shown;
  const rate = h.success_rate_24h === null ? "no deliveries in 24 h" : Math.round(h.success_rate_24h * 1000) / 10 + "% delivered in 24 h";
  const parts = [el("span", { class: "rate", text: rate })];
  if (h.consecutive_failures > 0) {
    parts.push(el("br"), el("span", { class: "streak error-text", text: h.consecutive_failures + (h.more ? "+" : "") + " failed in a row" + (h.failing_since ? ", failing since " + new Date(h.failing_since).toLocaleString() : "") }));
    if (h.last_error) parts.push(el("br"), el("span", { class: "last-error" }, "Last error: ", ...explained(h.last_help, h.last_error)));
  }
  cell.replaceChildren(...parts);
}

async function loadLast(id) {
  const cell = document.getElementById("last-" + id);
  try {
    const data = await api("GET", base() + "/" + encodeURIComponent(id) + "/deliveries?limit=1");
    const d = data.deliveries[0];
    if (!cell) return;
    if (!d) { cell.textContent = "No deliveries yet"; return; }
    cell.replaceChildren(el("span", { class: "badge " + d.delivery.status, text: d.delivery.status }), " ", agoSpan(d.started_at));
  } catch (e) { if (cell) cell.textContent = "—"; }
}

// ---- test fire --------------------------------------------------------------

// newTestAnswer marks that a Test fire or a Dismiss changed a webhook's
// result here: a kept result read before it (a reload's request still on
// its way) must not replace it.
function newTestAnswer(id) { state.testSeq[id] = (state.testSeq[id] || 0) + 1; }

async function loadTest(id) {
  if (state.busy.has(id)) return; // a Test fire in flight shows its own answer
  const seq = state.testSeq[id] || 0;
  try {
    const data = await api("GET", base() + "/" + encodeURIComponent(id) + "/test-result");
    if (state.busy.has(id) || (state.testSeq[id] || 0) !== seq) return; // older than what is shown
    showTest(id, data.result);
  } catch (e) { /* the row shows no panel */ }
}

async function testFire(id) {
  if (state.busy.has(id)) return;
  state.busy.add(id);
  const btn = $(`tr[data-id="${CSS.escape(id)}"] button[data-action="test"]`);
  if (btn) { btn.disabled = true; btn.textContent = "Testing…"; btn.setAttribute("aria-busy", "true"); }
  say("Sending a test payload…");
  try {
    const res = await api("POST", base() + "/" + encodeURIComponent(id) + "/test-fire");
    newTestAnswer(id);
    showTest(id, res);
    const problem = res.help ? res.help.problem : res.error;
    say(res.error ? "Test fire failed: " + problem : "Test fire answered HTTP " + res.status_code + " in " + took(res.duration_ms) + ".", !!res.error);
  } catch (e) {
    say(e.message, true);
  } finally {
    state.busy.delete(id);
    const b = $(`tr[data-id="${CSS.escape(id)}"] button[data-action="test"]`);
    if (b) { b.disabled = false; b.textContent = "Test fire"; b.removeAttribute("aria-busy"); }
  }
}

function showTest(id, res) {
  const row = document.getElementById("panel-row-" + id);
  const panel = document.getElementById("panel-" + id);
  if (!row || !panel) return;
  if (!res) { row.hidden = true; panel.replaceChildren(); return; }
  const failed = !!res.error;
  const parts = [];
  const when = el("span", { class: "when", text: "Fired " + new Date(res.fired_at).toLocaleString() });
  if (res.status_code) {
    parts.push(el("p", { class: "result-line" },
      el("span", { class: "code " + (failed ? "bad" : "good"), "data-test": "status" }, (failed ? "✗ " : "✓ ") + "HTTP " + res.status_code),
      el("span", { "data-test": "time" }, "Response time: " + took(res.duration_ms)), when));
  } else {
    parts.push(el("p", { class: "result-line" }, el("span", { class: "code bad", "data-test": "status" }, "✗ No response"), el("span", { "data-test": "time" }, "Failed after " + took(res.duration_ms)), when));
  }
  const h = state.hooks.find((x) => x.id === id);
  if (h && h.state !== "active") parts.push(el("p", { class: "inactive-note", "data-test": "inactive" }, "This webhook is " + (h.state === "disabled" ? "disabled" : "inactive") + ": real events do not send to it. Test fire sends anyway."));
  if (failed) parts.push(el("div", { class: "error-text", "data-test": "error" }, el("strong", {}, "Error: "), ...explained(res.help, res.error)));
  if (res.response_headers) parts.push(headerTable(res.response_headers, "test-response-headers", "Response headers"));
  else if (res.status_code) parts.push(el("p", { class: "hint", text: "Response headers: not recorded for this Test fire." }));
  if (res.body) {
    const full = res.body;
    const chars = Array.from(full);
    const long = chars.length > PREVIEW;
    const pre = el("pre", { class: "body", "data-test": "body", tabindex: "0", "aria-label": "Response body" }, long ? chars.slice(0, PREVIEW).join("") + "…" : full);
    parts.push(el("p", { class: "label", text: "Response body" + (long ? " (" + chars.length + " characters)" : "") }), pre);
    if (long) {
      const more = el("button", { type: "button", class: "link", "data-action": "more", "aria-expanded": "false" }, "Show more");
      more.addEventListener("click", () => {
        const open = more.getAttribute("aria-expanded") === "true";
        pre.textContent = open ? chars.slice(0, PREVIEW).join("") + "…" : full;
        more.textContent = open ? "Show more" : "Show less";
        more.setAttribute("aria-expanded", open ? "false" : "true");
      });
      parts.push(more);
    }
  }
  const actions = el("div", { class: "panel-actions" }, el("button", { type: "button", "data-action": "dismiss", onclick: () => dismiss(id) }, "Dismiss"));
  panel.classList.toggle("failed", failed);
  panel.replaceChildren(el("h3", { text: "Test fire result" }), tabs(id, [
    ["response", "Response", () => parts],
    ["request", "Request", () => [testRequest(id, res)]],
  ]), actions);
  row.hidden = false;
}

// tabs builds an ARIA tab list (arrow keys move between tabs) whose
// panels are built when first shown; the first tab is selected.
function tabs(id, list, label = "Test fire details") {
  const bar = el("div", { role: "tablist", class: "tabs", "aria-label": label });
  const panes = [];
  const buttons = list.map(([key, label, build], i) => {
    const pane = el("div", { role: "tabpanel", id: "tab-" + key + "-" + id, class: "tabpane", "aria-labelledby": "tabbtn-" + key + "-" + id, hidden: i !== 0 });
    let built = false;
    const show = () => { if (!built) { built = true; pane.replaceChildren(...build().filter(Boolean)); } };
    if (i === 0) show();
    panes.push(pane);
    const b = el("button", { type: "button", role: "tab", id: "tabbtn-" + key + "-" + id, "data-tab": key, "aria-controls": pane.id, "aria-selected": i === 0 ? "true" : "false", tabindex: i === 0 ? "0" : "-1" }, label);
    b.addEventListener("click", () => select(i));
    b.addEventListener("keydown", (e) => {
      const d = e.key === "ArrowRight" ? 1 : e.key === "ArrowLeft" ? -1 : 0;
      if (d) { e.preventDefault(); select((i + d + list.length) % list.length); buttons[(i + d + list.length) % list.length].focus(); }
    });
    b._show = show;
    return b;
  });
  function select(n) {
    buttons.forEach((b, i) => { b.setAttribute("aria-selected", i === n ? "true" : "false"); b.tabIndex = i === n ? 0 : -1; panes[i].hidden = i !== n; });
    buttons[n]._show();
  }
  bar.append(...buttons);
  return el("div", { class: "tabbed" }, bar, ...panes);
}

// testRequest shows the request a Test fire sent, rebuilt by the same
// code from the result's event ID and time.
function testRequest(id, res) {
  const box = el("div", { class: "test-request" }, el("p", { text: "Loading the request…" }));
  const q = new URLSearchParams({ event_id: res.event_id, at: res.fired_at });
  api("GET", base() + "/" + encodeURIComponent(id) + "/preview?" + q).then((p) => {
    const h = state.hooks.find((x) => x.id === id);
    const edited = h && new Date(h.updated_at) > new Date(res.fired_at);
    box.replaceChildren(...[edited ? el("p", { class: "inactive-note", text: "The webhook was edited after this test: this is the request its current settings send." }) : null, requestView(p, "test-request")].filter(Boolean));
  }).catch((e) => box.replaceChildren(el("p", { class: "error-text", text: "The request cannot be shown: " + e.message })));
  return box;
}

async function dismiss(id) {
  try {
    await api("DELETE", base() + "/" + encodeURIComponent(id) + "/test-result");
    newTestAnswer(id);
    showTest(id, null);
    say("Test result dismissed.");
    const b = $(`tr[data-id="${CSS.escape(id)}"] button[data-action="test"]`);
    if (b) b.focus();
  } catch (e) { say(e.message, true); }
}

// ---- delivery log -------------------------------------------------------------

async function toggleLog(id) {
  const row = document.getElementById("log-row-" + id);
  const btn = $(`tr[data-id="${CSS.escape(id)}"] button[data-action="log"]`);
  if (state.logs.has(id)) {
    state.logs.delete(id);
    row.hidden = true;
    btn.setAttribute("aria-expanded", "false");
    return;
  }
  state.logs.add(id);
  row.hidden = false;
  btn.setAttribute("aria-expanded", "true");
  await loadLog(id);
}

function workflowLink(wid, run) {
  if (!state.config.temporal_ui) return null;
  return state.config.temporal_ui.replace(/\/$/, "") + "/namespaces/" + encodeURIComponent(state.config.namespace) + "/workflows/" + encodeURIComponent(wid) + (run ? "/" + encodeURIComponent(run) + "/history" : "");
}

const LOG_PAGE = 10;
// webhook id -> { data, next, tokens, page, seq, status, type, since, until }:
// the page shown (data), the filters, and the page tokens of the pages
// visited (tokens[i] asks for page i; the API's next_page_token leads on).
const logView = {};
let logTimer = 0;

const filtered = (v) => !!(v.status || v.type || v.since || v.until);

// logQuery is the log route's query for the page and filters shown: the
// server filters and pages (in Temporal visibility), over every delivery.
function logQuery(v) {
  const q = new URLSearchParams({ page_size: String(LOG_PAGE) });
  if (v.status) q.set("status", v.status);
  if (v.type) q.set("event_type", v.type);
  // Dates are the admin's local days: from the start of "From" to the end of "To".
  if (v.since) q.set("since", new Date(v.since + "T00:00:00").toISOString());
  if (v.until) { const end = new Date(v.until + "T00:00:00"); end.setDate(end.getDate() + 1); q.set("until", end.toISOString()); }
  if (v.tokens[v.page]) q.set("page_token", v.tokens[v.page]);
  return q;
}

async function loadLog(id) {
  const box = document.getElementById("log-" + id);
  if (!box) return;
  const v = logView[id] || (logView[id] = { data: [], next: "", tokens: [""], page: 0, seq: 0, status: "", type: "", since: "", until: "" });
  if (!box.querySelector(".log-list")) box.replaceChildren(el("p", { text: "Loading deliveries…" }));
  const seq = ++v.seq;
  let data;
  try { data = await api("GET", base() + "/" + encodeURIComponent(id) + "/deliveries?" + logQuery(v)); }
  catch (e) {
    if (seq !== v.seq) return;
    // A page token the server no longer takes (its key ring changed):
    // back to the first page.
    if (e.field === "page_token" && v.page > 0) { v.tokens = [""]; v.page = 0; return loadLog(id); }
    // A failed refresh leaves the entries shown as they are (open
    // disclosures too) and says so above them; the next refresh tries again.
    // Filters the server refuses (To before From) match nothing shown.
    const list = document.getElementById("log-list-" + id);
    const text = e.field === "until" && v.since && v.until ? "Pick a “To” date on or after the “From” date." : e.message;
    const msg = el("p", { class: "error-text log-error" }, el("strong", {}, "Error: "), text);
    if (!list) box.replaceChildren(msg);
    else {
      if (["status", "event_type", "since", "until"].includes(e.field)) { v.data = []; v.next = ""; renderLog(id); }
      const old = list.querySelector(":scope > .log-error");
      if (old) old.replaceWith(msg); else list.prepend(msg);
    }
    watchPending();
    return;
  }
  if (seq !== v.seq) return; // a newer read (another page, other filters) is under way
  v.data = data.deliveries || [];
  v.next = data.next_page_token || "";
  // An empty page with a next token is not the end: the server stopped
  // after a few visibility pages without a match, and older ones may match.
  if (v.data.length === 0 && v.page === 0 && !filtered(v) && !v.next) { box.replaceChildren(el("p", { text: "No deliveries yet." })); watchPending(); return; }
  if (!box.querySelector(".log-list")) {
    box.replaceChildren(el("h3", { text: "Recent deliveries" }), recoverForm(id), logFilters(id), el("div", { class: "log-list", id: "log-list-" + id }));
  }
  renderLog(id);
  watchPending();
}

// logFilters narrows the log by status, event type and dates; the server
// applies them to every delivery of the webhook.
function logFilters(id) {
  const v = logView[id];
  const change = (key) => (e) => { v[key] = e.currentTarget.value; v.tokens = [""]; v.page = 0; loadLog(id); };
  const status = el("select", { id: "lf-status-" + id, "data-filter": "status", onchange: change("status") },
    [["", "Any status"], ["delivered", "Delivered"], ["failed", "Failed"], ["pending", "Pending"], ["skipped", "Skipped"]].map(([val, t]) => el("option", { value: val, selected: v.status === val }, t)));
  const type = el("select", { id: "lf-type-" + id, "data-filter": "type", onchange: change("type") },
    el("option", { value: "" }, "Any event"), CATALOG.events.map((e) => el("option", { value: e.type, selected: v.type === e.type }, e.label)));
  const since = el("input", { type: "date", id: "lf-since-" + id, "data-filter": "since", value: v.since, onchange: change("since") });
  const until = el("input", { type: "date", id: "lf-until-" + id, "data-filter": "until", value: v.until, onchange: change("until") });
  return el("div", { class: "log-filters", role: "group", "aria-label": "Filter deliveries" },
    el("span", { class: "lf" }, el("label", { for: status.id, text: "Status" }), status),
    el("span", { class: "lf" }, el("label", { for: type.id, text: "Event" }), type),
    el("span", { class: "lf" }, el("label", { for: since.id, text: "From" }), since),
    el("span", { class: "lf" }, el("label", { for: until.id, text: "To" }), until));
}

// renderLog shows the page read last, in place: an entry whose delivery did
// not change keeps its element (open disclosures, focus), and the pager
// keeps its buttons.
function renderLog(id) {
  const v = logView[id];
  const out = document.getElementById("log-list-" + id);
  if (!v || !out) return;
  for (const p of out.querySelectorAll(":scope > .log-error")) p.remove(); // a failed refresh before
  const list = out.querySelector("ol.deliveries") || out.appendChild(el("ol", { class: "deliveries" }));
  updateList(list, v.data.map((d) => [bodyKey(d), d]), (d) => deliveryItem(id, d));
  for (const d of v.data) loadBody(id, d);
  const count = v.data.length === 0 ? (v.next ? "None on this page; older ones may match." : v.page === 0 ? "No deliveries match these filters." : "No more deliveries.") :
    "Page " + (v.page + 1) + ": " + v.data.length + (v.data.length === 1 ? " delivery" : " deliveries") + (filtered(v) ? " matching the filters" : "") + (v.next ? ", older ones on the next pages" : "");
  const pager = out.querySelector(".pager") || out.appendChild(el("div", { class: "pager" },
    el("span", { class: "count", role: "status" }),
    el("button", { type: "button", "data-action": "newer", onclick: () => { if (v.page > 0) { v.page--; loadLog(id); } } }, "← Newer"),
    el("button", { type: "button", "data-action": "older", onclick: () => { if (v.next) { v.tokens[v.page + 1] = v.next; v.page++; loadLog(id); } } }, "Older →")));
  setIfChanged(pager.querySelector(".count"), "textContent", count);
  setIfChanged(pager.querySelector('[data-action="newer"]'), "disabled", v.page === 0);
  setIfChanged(pager.querySelector('[data-action="older"]'), "disabled", !v.next);
}

function setIfChanged(node, prop, value) {
  if (node[prop] !== value) node[prop] = value;
}

// updateList makes list show items ([key, data] pairs, in order) in place:
// an item whose data did not change keeps its element (and so its open
// disclosures and focus); a changed one gets a new element from build,
// with the old one's open disclosures and focus carried over; elements of
// items no longer listed go.
function updateList(list, items, build) {
  const old = new Map([...list.children].map((li) => [li.dataset.key, li]));
  const keep = new Set();
  items.forEach(([key, data], i) => {
    const sig = JSON.stringify(data);
    let li = old.get(key);
    if (!li || li._sig !== sig) {
      const fresh = build(data);
      fresh.dataset.key = key;
      fresh._sig = sig;
      if (li) carryOver(li, fresh);
      li = fresh;
    }
    keep.add(li);
    if (list.children[i] !== li) list.insertBefore(li, list.children[i] || null);
  });
  for (const li of [...list.children]) if (!keep.has(li)) li.remove();
}

// carryOver replaces before by after, keeping which disclosures were
// open and where focus was (matched by their place among their kind
// within the same attempt, or within the entry outside attempts).
function carryOver(before, after) {
  const spot = (n) => {
    const scope = n.closest("tr.attempt") || before;
    const rows = [...before.querySelectorAll("tr.attempt")];
    const kin = [...scope.querySelectorAll(n.tagName)].filter((m) => (m.closest("tr.attempt") || before) === scope);
    return { row: scope === before ? -1 : rows.indexOf(scope), tag: n.tagName, index: kin.indexOf(n) };
  };
  const find = (s) => {
    const scope = s.row < 0 ? after : after.querySelectorAll("tr.attempt")[s.row];
    if (!scope) return null;
    const kin = [...scope.querySelectorAll(s.tag)].filter((m) => (m.closest("tr.attempt") || after) === scope);
    return kin[s.index] || null;
  };
  const open = [...before.querySelectorAll("details[open]")].map(spot);
  const active = before.contains(document.activeElement) ? spot(document.activeElement) : null;
  before.replaceWith(after);
  for (const s of open) { const d = find(s); if (d) d.open = true; }
  if (active) { const f = find(active); if (f) f.focus(); }
}

function deliveryItem(id, d) {
  const href = workflowLink(d.workflow_id, d.run_id);
  const title = href ? el("a", { href, target: "_blank", rel: "noopener", text: d.event_type + " · " + d.event_id }) : el("span", { text: d.event_type + " · " + d.event_id });
  const attempts = (d.delivery.attempts || []).length === 0 && d.delivery.error ? el("p", { class: "no-attempt", text: d.delivery.error }) : el("table", { class: "attempts" },
    el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Attempt" }), el("th", { scope: "col", text: "Time" }), el("th", { scope: "col", text: "Result" }), el("th", { scope: "col", text: "Duration" }))),
    el("tbody", {}, (d.delivery.attempts || []).map((a, i) => el("tr", { class: "attempt" },
      el("td", { text: "#" + a.attempt }),
      el("td", { text: a.started_at ? new Date(a.started_at).toLocaleTimeString() : "—" }),
      el("td", { class: a.error ? "error-text" : "" }, ...(a.error ? ["✗ ", ...explained((d.help || [])[i], a.error)] : ["✓ HTTP " + a.status_code]), exchange(d, a, i)),
      el("td", { text: took(a.duration_ms) })))));
  const pending = d.delivery.status === "pending";
  const redo = pending ? null :
    el("button", { type: "button", "data-action": "redeliver", "data-delivery": d.delivery.delivery_id, "aria-label": "Redeliver " + d.event_type + " " + d.event_id, onclick: (e) => redeliver(id, d.delivery.delivery_id, e.currentTarget) }, "Redeliver");
  const mark = d.redelivery_of ? el("span", { class: "badge redelivery", title: "Redelivery of " + d.redelivery_of, text: "redelivery" }) : null;
  const next = pending && d.next_retry_at ? el("span", { class: "next-retry", "data-test": "next-retry" }, "next retry at " + new Date(d.next_retry_at).toLocaleTimeString()) : null;
  const b = bodies[bodyKey(d)];
  const rec = records[bodyKey(d)];
  const record = el("strong", { class: "record-title", "data-test": "record" }, b && b.data ? recordTitle(b.data) : rec && rec.data ? recordTitle(rec.data) : "");
  return el("li", { class: "delivery", "data-delivery": d.delivery.delivery_id, "data-body": bodyKey(d), "data-status": d.delivery.status },
    el("p", {}, record, " ", title, " ", mark, mark ? " " : null, el("span", { class: "badge " + d.delivery.status, text: d.delivery.status }), " ", next, next ? " " : null,
      el("span", { class: "when" }, new Date(d.started_at).toLocaleString(), " (", agoSpan(d.started_at), ")"), " ", redo),
    attempts);
}

// headerTable shows kept headers (name -> value) in name order.
function headerTable(h, testName, caption) {
  return el("table", { class: "headers", "data-test": testName }, caption ? el("caption", { class: "label", text: caption }) : null,
    el("tbody", {}, Object.keys(h).sort().map((k) => el("tr", {}, el("th", { scope: "row", text: k }), el("td", {}, el("code", { text: h[k] }))))));
}

// exchange shows an attempt's request (the headers it sent, as recorded
// with the attempt, the secret and signatures not kept; rebuilt from the
// current settings, and said so, for attempts recorded before) and its
// response (the status, headers and the body that was kept).
function exchange(d, a, i) {
  const heads = (d.requests || [])[i] || [];
  const href = workflowLink(d.workflow_id, d.run_id);
  return el("details", { class: "exchange" }, el("summary", { text: "Request and response" }),
    el("p", { class: "label", text: "Request: POST " + d.delivery.url }),
    (d.requests_rebuilt || [])[i] ? el("p", { class: "hint", "data-test": "headers-rebuilt", text: "Headers rebuilt from current settings: this attempt was recorded before HARi kept the headers it sent." }) : null,
    el("table", { class: "headers", "data-test": "request-headers" }, el("tbody", {}, heads.map((h) => el("tr", {}, el("th", { scope: "row", text: h.name }), el("td", {}, el("code", { text: h.value })))))),
    el("p", { class: "label" }, "Body (the same on every attempt", href ? [", and in the ", el("a", { href, target: "_blank", rel: "noopener", text: "Web UI" })] : null, ")"),
    el("pre", { class: "body json req-body", "data-test": "request-body", tabindex: "0", "aria-label": "Request body" }, bodyText(d)),
    el("p", { class: "label", text: "Response: " + (a.status_code ? "HTTP " + a.status_code : "none") }),
    a.response_headers ? headerTable(a.response_headers, "response-headers") :
      a.status_code ? el("p", { class: "hint", text: "Headers: not recorded for this attempt." }) : null,
    a.response_body ? el("pre", { class: "body", tabindex: "0", "aria-label": "Response body of attempt " + a.attempt }, a.response_body) : el("p", { class: "hint", text: a.status_code ? "Empty body." : "No response." }));
}

// Delivery bodies, read once each (they never change): the record's name
// and ID title the entry, and the body shows in each attempt's request. A
// failed read is shown but not kept: the next refresh asks again.
const bodies = {}; // workflow id | delivery id -> { data }, { loading } or { error }
const bodyKey = (d) => d.workflow_id + "|" + d.delivery.delivery_id;
const recordTitle = (b) => (b.record.name ? b.record.name + " · " : "") + b.record.id;

function bodyText(d) {
  const b = bodies[bodyKey(d)];
  if (!b || b.loading) return "Loading…";
  return b.data ? b.data.pretty : "Not available: " + b.error;
}

async function loadBody(id, d) {
  const key = bodyKey(d);
  if (d.delivery.status === "skipped") return loadRecord(id, d); // nothing was sent: no body to show
  if (bodies[key] && !bodies[key].error) return;
  bodies[key] = { loading: true };
  try {
    const q = new URLSearchParams({ workflow_id: d.workflow_id, run_id: d.run_id });
    bodies[key] = { data: await api("GET", base() + "/" + encodeURIComponent(id) + "/deliveries/" + encodeURIComponent(d.delivery.delivery_id) + "/body?" + q) };
  } catch (e) {
    bodies[key] = { error: e.message };
  }
  for (const li of document.querySelectorAll(".log li.delivery")) {
    if (li.dataset.body !== key) continue;
    const t = li.querySelector(".record-title");
    if (t && bodies[key].data) t.textContent = recordTitle(bodies[key].data);
    for (const pre of li.querySelectorAll(".req-body")) pre.textContent = bodyText(d);
  }
}

// Records of skipped deliveries, read once each from their event (they
// sent no body to read it from); a failed read is not kept.
const records = {}; // workflow id | delivery id -> { data: { record } }, { loading } or { error }

async function loadRecord(id, d) {
  const key = bodyKey(d);
  if (records[key] && !records[key].error) return;
  records[key] = { loading: true };
  try {
    const q = new URLSearchParams({ workflow_id: d.workflow_id, run_id: d.run_id });
    records[key] = { data: await api("GET", base() + "/" + encodeURIComponent(id) + "/deliveries/" + encodeURIComponent(d.delivery.delivery_id) + "/record?" + q) };
  } catch (e) {
    records[key] = { error: e.message };
    return;
  }
  for (const li of document.querySelectorAll(".log li.delivery")) {
    const t = li.dataset.body === key && li.querySelector(".record-title");
    if (t) t.textContent = recordTitle(records[key].data);
  }
}

// watchPending reloads the open logs, every 2 s while one shows a delivery
// under way and every 12 s otherwise, so new deliveries, their attempts and
// outcomes appear without a reload.
function watchPending() {
  clearTimeout(logTimer);
  const open = [...state.logs];
  if (open.length === 0) return;
  const pending = open.some((id) => (logView[id] ? logView[id].data : []).some((d) => d.delivery.status === "pending"));
  logTimer = setTimeout(async () => { await Promise.all(open.map((id) => loadLog(id))); for (const id of open) { loadLast(id); loadHealth(id); } }, pending ? 2000 : 12000);
}

// agoSpan is a relative time that keeps itself up to date (see tick).
function agoSpan(iso) {
  return el("span", { class: "ago", "data-time": iso, text: ago(iso) });
}

// tick refreshes every relative time on the page.
function tick() {
  for (const s of document.querySelectorAll(".ago[data-time]")) s.textContent = ago(s.dataset.time);
}

// recoverForm sends every failed delivery since a time again (a durable
// job on the server; its progress shows here, and stays once it ended).
function recoverForm(id) {
  const since = el("input", { type: "datetime-local", id: "since-" + id, class: "since", step: "1" });
  const d = new Date(Date.now() - 24 * 3600 * 1000);
  since.value = new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 19);
  const out = el("div", { class: "recovery", id: "recovery-" + id, role: "status" });
  const btn = el("button", { type: "button", "data-action": "recover", onclick: () => startRecovery(id, since.value) }, "Recover failed deliveries");
  renderRecovery(id, out);
  return el("div", { class: "recover" }, el("label", { for: "since-" + id, text: "Failed since " }), since, " ", btn, out, el("div", { class: "redeliver-error", id: "redeliver-error-" + id }));
}

const recoveries = {}; // webhook id -> { job, progress, error }

async function startRecovery(id, local) {
  const t = new Date(local);
  if (!local || isNaN(t)) { recoveries[id] = { error: "Pick the time the outage began." }; renderRecovery(id); return; }
  try {
    const job = await api("POST", base() + "/" + encodeURIComponent(id) + "/recover", { since: t.toISOString() });
    recoveries[id] = { job: job.job_id };
    watchRecovery(id);
  } catch (e) {
    recoveries[id] = { error: e.message, help: e.help };
    renderRecovery(id);
    say("Recovery not started: " + (e.help ? e.help.problem + " " + e.help.next : e.message), true);
  }
}

const recoveryPath = (id) => base() + "/" + encodeURIComponent(id) + "/recoveries/" + encodeURIComponent(recoveries[id].job);

async function watchRecovery(id) {
  const r = recoveries[id];
  try { r.progress = await api("GET", recoveryPath(id)); r.error = ""; r.help = null; } catch (e) { r.error = e.message; r.help = e.help; renderRecovery(id); return; }
  renderRecovery(id);
  if (!r.progress.done) setTimeout(() => watchRecovery(id), 1000);
  else for (const ms of [0, 3000]) setTimeout(() => { loadLog(id); loadLast(id); loadHealth(id); }, ms);
}

// renderRecovery shows a recovery's progress, or why it fell short or was
// refused in plain language (the raw error behind a disclosure). The
// region is rewritten only when what it says changes, so the progress
// polled every second is announced once per change.
function renderRecovery(id, out = document.getElementById("recovery-" + id)) {
  const r = recoveries[id];
  if (!out || !r) return;
  const p = r.error ? null : r.progress;
  const said = JSON.stringify([r.error, r.help, p]);
  if (out.dataset.said === said) return;
  out.dataset.said = said;
  if (r.error) { out.replaceChildren(el("p", { class: "error-text", "data-test": "recovery-error" }, el("strong", {}, "Recovery not started: "), ...explained(r.help, r.error))); return; }
  if (!p) { out.replaceChildren(el("p", { text: "Recovery starting…" })); return; }
  const words = p.state === "failed" ? "Recovery failed (" + p.sent + " of " + p.total + " sent)" :
    p.state === "listing" && !p.total ? "Recovery: finding failed deliveries…" :
    "Recovery " + (p.done ? (p.state === "canceled" || p.state === "stopped" ? p.state : "done") : "under way") + ": " + p.sent + " of " + p.total + " sent" + (p.failed ? ", " + p.failed + " failed" : "") +
    (p.state === "listing" ? " (finding more…)" : p.truncated ? " (more remain: they follow, oldest first)" : "");
  const cancel = p.done ? null : el("button", { type: "button", "data-action": "cancel-recovery", onclick: async () => {
    try { await api("POST", recoveryPath(id) + "/cancel"); } catch (e) { say(e.help ? e.help.problem + " " + e.help.next : e.message, true); }
  } }, "Cancel");
  const why = p.help ? el("p", { class: "error-text", "data-test": "recovery-help" }, ...explained(p.help, p.last_error)) : null;
  out.replaceChildren(el("p", {}, el("span", { class: "progress", "data-sent": String(p.sent), "data-total": String(p.total), "data-state": p.done ? p.state : "running", text: words }), ...(cancel ? [" ", cancel] : [])), why);
}

// redeliver sends one delivery again: the same body and X-Webhook-Id,
// signed with the webhook's current secret.
async function redeliver(id, deliveryID, btn) {
  if (btn) { btn.disabled = true; btn.textContent = "Redelivering…"; }
  try {
    const r = await api("POST", base() + "/" + encodeURIComponent(id) + "/deliveries/" + encodeURIComponent(deliveryID) + "/redeliver");
    const out = document.getElementById("redeliver-error-" + id);
    if (out) out.replaceChildren();
    say((r.duplicate ? "Already redelivering " : "Redelivery started for ") + deliveryID + ".");
    // The execution log lists it once visibility has it: look twice.
    for (const ms of [1500, 5000]) setTimeout(() => { loadLog(id); loadLast(id); loadHealth(id); }, ms);
  } catch (e) {
    // In plain language, with the raw error behind a disclosure, above
    // the log (announced once, as a new error).
    const out = document.getElementById("redeliver-error-" + id);
    if (out) out.replaceChildren(el("p", { class: "error-text", "data-test": "redeliver-error" }, el("strong", {}, "Not redelivered: "), ...explained(e.help, e.message)));
    say("Not redelivered: " + (e.help ? e.help.problem + " " + e.help.next : e.message), true);
    if (btn) { btn.disabled = false; btn.textContent = "Redeliver"; }
  }
}

// ---- payload preview ----------------------------------------------------------------

// requestView shows a request as the preview API built it: the request
// line, the headers and the pretty-printed body.
function requestView(p, testName) {
  const rows = p.headers.map((h) => el("tr", {}, el("th", { scope: "row", text: h.name }), el("td", {}, el("code", { text: h.value }))));
  return el("div", { class: "request" },
    el("p", { class: "req-line" }, el("code", { "data-test": testName + "-line", text: p.method + " " + p.url })),
    el("table", { class: "headers", "data-test": testName + "-headers" }, el("caption", { class: "label", text: "Headers" }), el("tbody", {}, rows)),
    el("p", { class: "label", text: "Body (JSON, " + new Blob([p.body]).size + " bytes; shown indented)" }),
    el("pre", { class: "body json", "data-test": testName + "-body", tabindex: "0", "aria-label": "Request body" }, p.pretty),
    notSent(p.changes_not_sent, testName),
    p.placeholder_secret ? el("p", { class: "hint", text: "The signature headers" + (p.headers.some((h) => h.name === "X-Webhook-Secret") ? " and X-Webhook-Secret" : "") + " are shown computed with a placeholder secret; your endpoint receives them computed with your secret." }) : null);
}

// notSent says why "changes" lacks the change that triggers the webhook:
// it holds only the fields the webhook sends (a real delivery too).
function notSent(fields, testName) {
  if (!fields || fields.length === 0) return null;
  const names = fields.join(", ");
  return el("p", { class: "hint changes-note", "data-test": testName + "-changes-note" },
    "“changes” leaves out the change of " + names + ": it holds only the fields this webhook sends, in a real delivery too. Tick " + names + " under “Record fields to send” to receive " + (fields.length === 1 ? "it" : "them") + ".");
}

let previewTimer = 0;
let previewSeq = 0;

// schedulePreview refreshes the form's preview shortly after an edit.
function schedulePreview() {
  clearTimeout(previewTimer);
  previewTimer = setTimeout(loadFormPreview, 250);
}

async function loadFormPreview() {
  const box = $("#form-preview");
  if (!box || !$("#editor").open) return;
  const seq = ++previewSeq;
  const spec = formSpec();
  delete spec.active;
  delete spec.name;
  const o = state.original;
  spec.signed = $("#f-secret").value !== "" || !!(o && o.has_secret && !$("#f-secret-remove").checked);
  try {
    const p = await api("POST", base() + "/preview", spec);
    if (seq !== previewSeq) return;
    box.replaceChildren(requestView(p, "form-preview"));
  } catch (e) {
    if (seq !== previewSeq) return;
    box.replaceChildren(el("p", { class: "hint", text: "No preview: " + e.message }));
  }
}

// ---- signing secret ------------------------------------------------------------------

// generateSecret makes a whsec_ secret of 32 random bytes from the
// browser's CSPRNG (the Standard Webhooks form), puts it in the form and
// shows it once to copy. Saving the form sets it (a rotation when the
// webhook had one: the old secret keeps signing for the grace period).
function generateSecret() {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  const secret = "whsec_" + btoa(String.fromCharCode(...bytes));
  $("#f-secret").value = secret;
  $("#f-secret-remove").checked = false;
  $("#secret-value").textContent = secret;
  $("#secret-reveal").hidden = false;
  $("#rotate-note").hidden = !(state.original && state.original.has_secret);
  $("#gen-secret").textContent = "Generate another";
  secretState();
  schedulePreview();
  $("#copy-secret").focus();
}

async function copySecret() {
  try {
    await navigator.clipboard.writeText($("#secret-value").textContent);
    say("Secret copied. Store it on your server before you save.");
  } catch (e) {
    say("The browser did not allow copying: select the secret and copy it by hand.", true);
  }
}

// secretState says in words what the form will do with the secret, and
// whether requests carry the secret itself.
function secretState() {
  const o = state.original;
  const typed = $("#f-secret").value !== "";
  const removing = !typed && o && o.has_secret && $("#f-secret-remove").checked;
  const signed = typed || (o && o.has_secret && !removing);
  let words;
  if (removing) words = "The secret will be removed when you save: requests will be neither signed nor carry a secret.";
  else if (typed) words = o && o.has_secret ? "A new secret replaces " + o.secret + " when you save." : "This secret is set when you save.";
  else if (o && o.has_secret) words = "Set (" + o.secret + "). Every request is signed with it.";
  else words = "No secret: requests are not signed. Generate one so your server can check that requests come from HARi.";
  if (signed) words += $("#f-secret-header").checked ? " Each request also carries the secret itself in the X-Webhook-Secret header." : " The secret itself is never sent, only signatures.";
  if ($("#secret-state").textContent !== words) $("#secret-state").textContent = words; // a live region: say changes only
}

let snippetsLoaded = false;

// loadSnippets shows the README's verification snippets (the same files,
// checked by TestSnippetsAreTheReadmes), Go, Node.js and Python.
async function loadSnippets() {
  if (snippetsLoaded || !$("#snippets").open) return;
  snippetsLoaded = true;
  const files = [["go", "Go", "verify.go.txt"], ["node", "Node.js", "verify.js.txt"], ["python", "Python", "verify.py.txt"]];
  const texts = await Promise.all(files.map(async ([, , f]) => {
    try { const r = await fetch("/settings/static/snippets/" + f); return r.ok ? r.text() : "(not available)"; } catch (e) { return "(not available)"; }
  }));
  $("#snippet-tabs").replaceChildren(tabs("snippets", files.map(([key, label], i) => [key, label, () => [el("pre", { class: "body snippet", "data-test": "snippet-" + key, tabindex: "0", "aria-label": label + " verification code" }, texts[i])]]), "Verification code"));
}

// ---- editor ----------------------------------------------------------------------

// The guided builder's choices (GET /settings/catalog.json); the
// fallback keeps the form usable without it.
let CATALOG = { events: EVENTS.map((t) => ({ type: t, label: t, description: "" })), fields: {}, stages: {}, statuses: ["active", "inactive", "archived"] };
const entityFields = () => CATALOG.fields[$("#f-entity").value] || [];

// valueChoices are the values a condition on field can pick from, or
// null for a free value.
function valueChoices(field) {
  if (field === "stage") return CATALOG.stages[$("#f-entity").value] || CATALOG.stages.opportunity || null;
  if (field === "status") return CATALOG.statuses;
  return null;
}

// conditionRow is one condition: a field of the entity, a comparison and
// a value (picked from the stages or statuses, or typed).
const OTHER = "__other__"; // the field select's "Other field…" choice

function conditionRow(c = {}) {
  const known = entityFields();
  const names = known.length ? known.slice() : ["stage"];
  const field = el("select", { "aria-label": "Field", class: "c-field" }, names.map((f) => el("option", { value: f }, f)), el("option", { value: OTHER }, "Other field…"));
  const other = !!c.field && !names.includes(c.field);
  field.value = other ? OTHER : c.field || (names.includes("stage") ? "stage" : names[0]);
  // A field outside the catalog (a custom field) is typed, checked as the
  // API checks field names.
  const otherInput = el("input", { "aria-label": "Other field name", class: "c-field-other", placeholder: "field name, e.g. region", value: other ? c.field : "", maxlength: "100", "aria-describedby": "err-conditions", hidden: !other });
  const fieldName = () => (field.value === OTHER ? otherInput.value.trim() : field.value);
  const op = el("select", { "aria-label": "Comparison", class: "c-op" }, OPS.map(([v, t]) => el("option", { value: v, selected: c.op === v }, t)));
  let shown = "";
  if (c.value !== undefined && c.value !== null) shown = typeof c.value === "string" ? c.value : JSON.stringify(c.value);
  const slot = el("span", { class: "c-value-slot" });
  const renderValue = (keep) => {
    const old = slot.firstChild;
    const choices = valueChoices(fieldName());
    const prev = keep !== undefined ? keep : old && (old.tagName === "SELECT") === !!choices ? old.value : "";
    let v;
    if (choices) {
      const opts = !prev || choices.includes(prev) ? choices : [prev, ...choices];
      v = el("select", { "aria-label": "Value", class: "c-value" }, opts.map((x) => el("option", { value: x }, x)));
      if (prev) v.value = prev;
    } else {
      v = el("input", { "aria-label": "Value", placeholder: "value", value: prev, class: "c-value" });
    }
    v.hidden = op.value === "changed";
    slot.replaceChildren(v);
  };
  field.addEventListener("change", () => {
    otherInput.hidden = field.value !== OTHER;
    if (field.value === OTHER) otherInput.focus();
    renderValue();
  });
  op.addEventListener("change", () => { slot.firstChild.hidden = op.value === "changed"; });
  renderValue(shown);
  const row = el("div", { class: "cond" }, field, otherInput, op, slot, el("button", { type: "button", "aria-label": "Remove condition", onclick: () => { row.remove(); summarize(); schedulePreview(); } }, "Remove"));
  row.fieldName = fieldName;
  return row;
}

// otherFieldError checks the typed field names as the API does (not blank,
// at most 100 bytes), marking the first wrong one; "" when all are fine.
function otherFieldError() {
  for (const input of document.querySelectorAll("#f-conditions .c-field-other:not([hidden])")) {
    const name = input.value.trim();
    const bytes = new TextEncoder().encode(name).length;
    const msg = name === "" ? "Name the other field of the condition, for example region." :
      bytes > 100 ? "A field name is at most 100 bytes; “" + name.slice(0, 20) + "…” has " + bytes + "." : "";
    if (msg) { input.setAttribute("aria-invalid", "true"); return [msg, input]; }
  }
  return ["", null];
}

// The field picker keeps the order fields were chosen in (the payload's
// record follows it).
let pickedFields = [];

function renderFieldPicker(selected) {
  const known = entityFields();
  pickedFields = selected.filter((f) => known.includes(f));
  $("#f-fields").replaceChildren(...known.map((f) => el("label", { class: "check" },
    el("input", { type: "checkbox", value: f, name: "fields", checked: pickedFields.includes(f), onchange: (e) => {
      pickedFields = pickedFields.filter((x) => x !== f);
      if (e.currentTarget.checked) pickedFields.push(f);
    } }), f)));
  $("#f-fields-other").value = selected.filter((f) => !known.includes(f)).join(", ");
}

function chosenFields() {
  const other = $("#f-fields-other").value.split(",").map((x) => x.trim()).filter(Boolean);
  return [...pickedFields, ...other.filter((f) => !pickedFields.includes(f))];
}

function onEntityChange() {
  const keep = chosenFields();
  const conds = formSpec().conditions;
  renderFieldPicker(keep);
  $("#f-conditions").replaceChildren(...conds.map(conditionRow));
}

const EVENT_WORDS = { "record.created": "is created", "record.updated": "is updated", "record.deleted": "is deleted", "stage.changed": "changes stage", "status.changed": "changes status", "assignment.changed": "gets a new owner" };

// summary puts the form in one line: "When an opportunity's stage changes
// to Closed Won → POST name, amount, owner to https://erp.example.com/…".
function summary(spec) {
  const ent = spec.entity;
  const a = /^[aeiou]/.test(ent) ? "an " : "a ";
  const conds = spec.conditions.filter((c) => c.field);
  const val = (c) => (typeof c.value === "string" ? c.value : JSON.stringify(c.value));
  const words = (c) => ({ equals: c.field + " is " + val(c), not_equals: c.field + " is not " + val(c), changed: c.field + " changes", changed_from: c.field + " changes from " + val(c), changed_to: c.field + " changes to " + val(c) })[c.op] || c.field;
  let when;
  const stageTo = conds.length === 1 && conds[0].field === "stage" && conds[0].op === "changed_to" ? conds[0] : null;
  if (stageTo && spec.events.length > 0 && spec.events.every((e) => e === "stage.changed" || e === "record.updated")) {
    when = "When " + a + ent + "'s stage changes to " + val(stageTo);
  } else {
    when = "When " + a + ent + " " + (spec.events.length ? spec.events.map((e) => EVENT_WORDS[e] || e).join(" or ") : "… (choose an event)");
    if (conds.length) when += ", if its " + conds.map(words).join(spec.match === "any" ? " or its " : " and its ");
  }
  let to = "your endpoint";
  try { const u = new URL(spec.url); to = u.origin + (u.pathname.length > 1 || u.search ? "/…" : "/"); } catch (e) { /* not a URL yet */ }
  return when + " → POST " + (spec.fields.length ? spec.fields.join(", ") : "every field") + " to " + to;
}

function summarize() {
  if ($("#editor").open) $("#trigger-summary").textContent = summary(formSpec());
}

function parseValue(s) {
  try { return JSON.parse(s); } catch (e) { return s; }
}

function clearErrors() {
  for (const p of document.querySelectorAll("#hook-form .err")) p.textContent = "";
  for (const i of document.querySelectorAll("#hook-form [aria-invalid]")) i.removeAttribute("aria-invalid");
  $("#form-error").hidden = true;
}

function openEditor(h) {
  state.editing = h ? h.id : null;
  state.original = h || null;
  clearErrors();
  $("#editor-title").textContent = h ? "Edit webhook" : "New webhook";
  $("#f-name").value = h ? h.name : "";
  $("#f-entity").value = h ? h.entity : "opportunity";
  for (const cb of document.querySelectorAll("#f-events input")) cb.checked = h ? h.events.includes(cb.value) : cb.value === "record.updated";
  $("#f-match").value = h && h.match === "any" ? "any" : "all";
  $("#f-conditions").replaceChildren(...(h ? h.conditions.map(conditionRow) : []));
  $("#f-url").value = h ? h.url : "";
  renderFieldPicker(h ? h.fields : []);
  $("#f-secret").value = "";
  $("#f-secret").placeholder = h && h.has_secret ? "Unchanged (" + h.secret + ")" : "";
  $("#f-active").checked = h ? h.active : true;
  $("#f-secret-header").checked = h ? h.secret_header !== false : true;
  $("#f-secret-remove").checked = false;
  $("#secret-remove-field").hidden = !(h && h.has_secret);
  $("#secret-reveal").hidden = true;
  $("#secret-value").textContent = "";
  $("#gen-secret").textContent = h && h.has_secret ? "Rotate secret" : "Generate secret";
  secretState();
  state.returnFocus = document.activeElement;
  if (!$("#editor").open) $("#editor").showModal();
  summarize();
  $("#f-name").focus();
  loadFormPreview();
}

function closeEditor() {
  if ($("#editor").open) $("#editor").close();
}

// editorClosed runs however the drawer closes (Cancel, ✕, Escape, a
// save): focus goes back to where the drawer was opened from.
function editorClosed() {
  // The close event is queued: when it arrives after the drawer was opened
  // again (a quick Cancel then Edit), it is not about this opening.
  if ($("#editor").open) return;
  $("#secret-value").textContent = ""; // shown once: gone with the drawer
  $("#secret-reveal").hidden = true;
  $("#f-secret").value = "";
  if (state.saved) return; // save() puts focus on the saved row
  const back = state.returnFocus && document.contains(state.returnFocus) ? state.returnFocus : $("#new-btn");
  state.returnFocus = null;
  back.focus();
}

const FIELD_INPUT = { name: "f-name", entity: "f-entity", events: "f-events", conditions: "f-conditions", url: "f-url", fields: "f-fields-other", secret: "f-secret" };

// formSpec is the webhook the form describes, as the API takes it.
function formSpec() {
  return {
    name: $("#f-name").value.trim(),
    entity: $("#f-entity").value,
    events: Array.from(document.querySelectorAll("#f-events input:checked")).map((c) => c.value),
    match: $("#f-match").value,
    conditions: Array.from(document.querySelectorAll("#f-conditions .cond")).map((r) => {
      const op = $(".c-op", r).value;
      const c = { field: r.fieldName ? r.fieldName() : $(".c-field", r).value.trim(), op };
      if (op !== "changed") c.value = parseValue($(".c-value", r).value.trim());
      return c;
    }),
    url: $("#f-url").value.trim(),
    fields: chosenFields(),
    active: $("#f-active").checked,
    secret_header: $("#f-secret-header").checked,
  };
}

async function save(ev) {
  ev.preventDefault();
  clearErrors();
  const spec = formSpec();
  const secret = $("#f-secret").value;
  if (secret !== "") spec.secret = secret;
  else if (state.original && state.original.has_secret && $("#f-secret-remove").checked) spec.secret = "";
  // The secret is sealed for its URL: moving the webhook, or turning the
  // secret header on, needs the secret again (or its removal). The server
  // refuses it too; say so before sending.
  const [fieldErr, fieldInput] = otherFieldError();
  if (fieldErr) {
    $("#err-conditions").textContent = fieldErr;
    fieldInput.focus();
    return;
  }
  const o = state.original;
  if (o && o.has_secret && spec.secret === undefined) {
    let need = "";
    if (spec.url !== o.url) need = "Changing the URL requires the secret again, or tick “Remove the secret”.";
    else if (spec.secret_header && o.secret_header === false) need = "Sending the secret header requires the secret again, or tick “Remove the secret”.";
    if (need) {
      $("#err-secret").textContent = need;
      $("#f-secret").setAttribute("aria-invalid", "true");
      $("#f-secret").focus();
      return;
    }
  }
  const btn = $("#save-btn");
  btn.disabled = true;
  try {
    const v = state.editing ? await api("PUT", base() + "/" + encodeURIComponent(state.editing), spec) : await api("POST", base(), spec);
    say(state.editing ? "Webhook saved." : "Webhook created.");
    // Focus goes to the saved row (its menu, where Edit was), not back to
    // "+ New webhook", once the list is rebuilt.
    const id = state.editing || (v && v.id);
    const edited = !!state.editing;
    state.returnFocus = null;
    state.saved = true;
    closeEditor();
    const before = document.activeElement; // where the closed drawer put it
    await load(() => {
      const row = id && $(`tr[data-id="${CSS.escape(id)}"]`);
      const target = row ? $(edited ? 'button[data-action="menu"]' : 'button[data-action="test"]', row) : $("#new-btn");
      const now = document.activeElement;
      // Never away from where the user has gone since.
      if (!$("#editor").open && (!now || now === document.body || now === before)) target.focus();
    });
    state.saved = false;
  } catch (e) {
    const input = e.field && FIELD_INPUT[e.field] ? document.getElementById(FIELD_INPUT[e.field]) : null;
    const msg = document.getElementById("err-" + e.field);
    if (input && msg) {
      msg.textContent = e.message;
      input.setAttribute("aria-invalid", "true");
      input.focus();
    } else {
      const fe = $("#form-error");
      fe.textContent = e.message;
      fe.hidden = false;
    }
  } finally {
    btn.disabled = false;
  }
}

async function setActive(h, active) {
  try {
    await api("POST", base() + "/" + encodeURIComponent(h.id) + (active ? "/activate" : "/deactivate"));
    say(h.name + (active ? " activated." : " deactivated."));
    await load();
    refocusMenu(h.id);
  } catch (e) { say(e.message, true); }
}

async function remove(h) {
  const dlg = $("#confirm");
  $("#confirm-text").textContent = "Delete “" + h.name + "”? Deliveries already under way still finish.";
  dlg.returnValue = "";
  dlg.showModal();
  $("#confirm-cancel").focus(); // Enter must not delete
  await new Promise((resolve) => dlg.addEventListener("close", resolve, { once: true }));
  if (dlg.returnValue !== "ok") return;
  try {
    await api("DELETE", base() + "/" + encodeURIComponent(h.id));
    say(h.name + " deleted.");
    await load();
    refocus($("#new-btn"));
  } catch (e) { say(e.message, true); }
}

// ---- start -------------------------------------------------------------------------

async function start() {
  state.token = takeToken();
  try { state.config = Object.assign(state.config, await api("GET", "/settings/config.json")); } catch (e) { /* defaults */ }
  const params = new URLSearchParams(location.search);
  state.ws = params.get("workspace") || state.config.workspace || "yourcompany";
  $("#ws").value = state.ws;
  try { const r = await fetch("/settings/catalog.json"); if (r.ok) CATALOG = await r.json(); } catch (e) { /* the fallback */ }
  $("#f-events").replaceChildren(...CATALOG.events.map((e) => el("label", { class: "check event" }, el("input", { type: "checkbox", value: e.type, name: "events" }),
    el("span", {}, el("strong", { text: e.label }), e.description ? el("span", { class: "hint", text: ": " + e.description }) : null))));
  $("#f-entity").addEventListener("change", onEntityChange);
  $("#hook-form").addEventListener("input", summarize);
  $("#hook-form").addEventListener("change", summarize);
  $("#ws-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const ws = $("#ws").value.trim();
    if (!ws) return;
    location.search = "?workspace=" + encodeURIComponent(ws);
  });
  $("#new-btn").addEventListener("click", () => openEditor(null));
  $("#cancel-btn").addEventListener("click", closeEditor);
  $("#close-editor").addEventListener("click", closeEditor);
  $("#editor").addEventListener("close", editorClosed);
  document.addEventListener("click", (e) => { if (!e.target.closest(".menu-wrap")) closeMenus(); });
  $("#add-cond").addEventListener("click", () => { const r = conditionRow(); $("#f-conditions").append(r); $(".c-field", r).focus(); summarize(); });
  $("#hook-form").addEventListener("submit", save);
  $("#hook-form").addEventListener("input", schedulePreview);
  $("#hook-form").addEventListener("input", secretState);
  $("#hook-form").addEventListener("change", secretState);
  $("#gen-secret").addEventListener("click", generateSecret);
  $("#copy-secret").addEventListener("click", copySecret);
  $("#snippets").addEventListener("toggle", loadSnippets);
  $("#hook-form").addEventListener("change", schedulePreview);
  $("#add-cond").addEventListener("click", schedulePreview);
  $("#f-conditions").addEventListener("click", (e) => { if (e.target.closest("button")) schedulePreview(); });
  await load();
  setInterval(tick, 5000);
  document.body.dataset.ready = "true";
}

start();
