import { TENANTS_MARKUP, TENANTS_SCRIPT, TENANTS_STYLE } from "./dashboard-tenants";

/**
 * The operator dashboard: one self-contained document (no CDN, nothing built per request). It
 * asks for the admin token once, keeps it in sessionStorage and sends it as a Bearer header.
 */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Gateway dashboard</title>
<style>
  :root { --bg:#0f1115; --card:#181b22; --fg:#e8eaf0; --muted:#9aa3b2; --line:#2a2f3a;
          --closed:#2fbf71; --open:#e5484d; --half:#f5a524; --forced:#a855f7; --cool:#3b82f6; }
  * { box-sizing: border-box; }
  body { margin:0; font:15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; background:var(--bg); color:var(--fg); }
  header { display:flex; flex-wrap:wrap; gap:.75rem; align-items:center; justify-content:space-between; padding:1rem 1.25rem; border-bottom:1px solid var(--line); }
  h1 { font-size:1.15rem; margin:0; }
  main, .grid { padding:1rem 1.25rem; display:grid; gap:1rem; grid-template-columns:repeat(auto-fill, minmax(320px, 1fr)); }
  .muted { color:var(--muted); font-size:.85rem; }
  .card { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:1rem; border-left:6px solid var(--muted); }
  .card[data-state="closed"] { border-left-color:var(--closed); }
  .card[data-state="open"] { border-left-color:var(--open); }
  .card[data-state="half_open"] { border-left-color:var(--half); }
  .card[data-state="forced_open"] { border-left-color:var(--forced); }
  .row { display:flex; justify-content:space-between; align-items:center; gap:.5rem; }
  .model { font-weight:600; word-break:break-all; }
  .badge { padding:.15rem .55rem; border-radius:999px; font-size:.8rem; font-weight:700; text-transform:uppercase; letter-spacing:.03em; color:#0b0d12; }
  .b-closed { background:var(--closed); } .b-open { background:var(--open); } .b-half_open { background:var(--half); } .b-forced_open { background:var(--forced); }
  .b-cooling { background:var(--cool); color:white; }
  dl { display:grid; grid-template-columns:auto 1fr; gap:.2rem .75rem; margin:.75rem 0; font-size:.9rem; }
  dt { color:var(--muted); } dd { margin:0; text-align:right; font-variant-numeric:tabular-nums; }
  ul { list-style:none; padding:0; margin:.5rem 0 0; font-size:.82rem; max-height:9rem; overflow:auto; }
  li { padding:.2rem 0; border-top:1px solid var(--line); }
  button, input, select { font:inherit; border-radius:6px; border:1px solid var(--line); background:#222733; color:var(--fg); padding:.4rem .7rem; }
  button { cursor:pointer; } button.danger { border-color:var(--open); } button.primary { border-color:var(--closed); }
  .actions { display:flex; flex-wrap:wrap; gap:.5rem; margin-top:.75rem; }
  .confirm { display:none; gap:.5rem; flex-wrap:wrap; margin-top:.5rem; padding:.5rem; border:1px dashed var(--line); border-radius:8px; }
  .confirm.show { display:flex; }
  .confirm input { flex:1 1 8rem; min-width:0; }
  #login { max-width:420px; margin:4rem auto; padding:1.5rem; background:var(--card); border-radius:10px; border:1px solid var(--line); }
  #login input { width:100%; margin:.75rem 0; }
  #error { color:var(--open); padding:0 1.25rem; }
  .panel-title { margin:.5rem 0 0; padding:0 1.25rem; font-size:.95rem; color:var(--muted); text-transform:uppercase; letter-spacing:.05em; }
  #demo { margin:0 1.25rem 1rem; padding:1rem; background:var(--card); border:1px solid var(--line); border-radius:10px; display:none; gap:.5rem; flex-wrap:wrap; align-items:center; }
${TENANTS_STYLE}</style>
</head>
<body>
<div id="login" hidden>
  <h1>Gateway admin</h1>
  <p class="muted">Enter the admin token (ADMIN_TOKEN). It stays in this tab only.</p>
  <form id="login-form"><input id="token" type="password" autocomplete="off" placeholder="Admin token" data-testid="token-input"><button class="primary" data-testid="token-submit">Open dashboard</button></form>
</div>
<div id="app" hidden>
  <header>
    <h1>Gateway</h1>
    <div class="muted"><span id="updated">–</span> · <button id="logout">Forget token</button></div>
  </header>
  <p id="error" role="alert"></p>
  <section id="demo" data-testid="demo">
    <strong>Simulated upstream</strong>
    <select id="demo-model" data-testid="demo-model"></select>
    <select id="demo-mode" data-testid="demo-mode"><option value="status">fail with 503</option><option value="hang">hang</option><option value="slow_chunks">slow chunks</option><option value="cut_after">cut streams</option><option value="cut_midstream">cut mid-stream (rescued)</option><option value="status429">rate limit (429)</option></select>
    <button class="danger" id="demo-break" data-testid="demo-break">Break</button>
    <button id="demo-clear" data-testid="demo-clear">Heal all</button>
    <button class="primary" id="demo-traffic" data-testid="demo-traffic">Send 10 requests</button>
    <span class="muted" id="demo-status"></span>
  </section>
  <h2 class="panel-title">Circuits</h2>
  <main id="circuits" data-testid="circuits"></main>
${TENANTS_MARKUP}</div>
<script>
(() => {
  const KEY = "gateway-admin-token";
  const $ = (id) => document.getElementById(id);
  let circuits = [];
  let timer = null;
  const token = () => sessionStorage.getItem(KEY);
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&":"&amp;", "<":"&lt;", ">":"&gt;", '"':"&quot;", "'":"&#39;" }[c]));

  async function api(path, init = {}) {
    const res = await fetch(path, { ...init, headers: { ...(init.headers || {}), authorization: "Bearer " + token(), "content-type": "application/json" } });
    if (res.status === 401) { sessionStorage.removeItem(KEY); show(); throw new Error("The token was refused."); }
    const body = res.headers.get("content-type")?.includes("json") ? await res.json() : await res.text();
    if (!res.ok) throw new Error(body?.error?.message || ("HTTP " + res.status));
    return body;
  }

  function show() {
    const has = !!token();
    $("login").hidden = has; $("app").hidden = !has;
    if (has) { refreshAll(); if (!timer) timer = setInterval(refreshAll, 2000); setupDemo(); }
    else if (timer) { clearInterval(timer); timer = null; }
  }

  // What each transition reason of the breaker means to an operator; other reasons (forced: …, reset: …) read as they are.
  const REASONS = { failure_threshold: "consecutive failures", failure_rate: "failure rate", slow_call_rate: "slow-call rate",
    probe_success: "probes succeeded", probe_failure: "a probe failed", open_timeout: "open timeout ended", forced_end: "forcing ended" };
  const reasonText = (r) => Object.hasOwn(REASONS, r) ? REASONS[r] : r;
  function openedBy(c) {
    if (c.state !== "open") return null;
    const t = (c.transitions || []).find((x) => x.to === "open");
    return t ? reasonText(t.reason) : null;
  }
  function slowCalls(c) {
    if (c.config.slowCallMs === null || c.config.slowCallMs === undefined) return "off";
    return c.slowCalls + " in window · " + c.slowCallsTotal + " total (over " + c.config.slowCallMs + " ms)";
  }

  function secondsUntil(t) { return t === null ? null : Math.max(0, Math.ceil((t - Date.now()) / 1000)); }
  function when(t) { return t === null ? "–" : new Date(t).toLocaleTimeString(); }

  function card(c) {
    const next = secondsUntil(c.nextAttemptAt);
    const cooling = c.coolingUntil !== null && c.coolingUntil > Date.now();
    const t = c.traffic || { requests: 0, spendUsd: 0, tokens: 0, continued: 0 };
    const probe = c.state === "open" ? (next === 0 ? "due now" : next + " s") : c.state === "forced_open" ? (next === null ? "until reset" : next + " s") : "–";
    const opener = openedBy(c);
    const transitions = (c.transitions || []).map((x) => "<li>" + esc(when(x.at)) + " · " + esc(x.from) + " → <b>" + esc(x.to) + "</b> · " + esc(reasonText(x.reason)) + "</li>").join("") || "<li class=muted>No transitions yet.</li>";
    return '<article class="card" data-state="' + esc(c.state) + '" data-model="' + esc(c.model) + '" data-testid="circuit">' +
      '<div class="row"><span class="model">' + esc(c.model) + '</span><span><span class="badge b-' + esc(c.state) + '" data-testid="state">' + esc(c.state.replace("_", " ")) + '</span>' +
      (cooling ? ' <span class="badge b-cooling">cooling ' + secondsUntil(c.coolingUntil) + ' s</span>' : '') + '</span></div>' +
      '<dl><dt>Next probe</dt><dd data-countdown="' + (c.nextAttemptAt ?? "") + '">' + esc(probe) + '</dd>' +
      '<dt>Consecutive failures</dt><dd>' + c.consecutiveFailures + ' / ' + c.config.failureThreshold + '</dd>' +
      '<dt>Half-open</dt><dd>' + c.halfOpenSuccesses + ' ok · ' + c.halfOpenInFlight + ' in flight</dd>' +
      (opener ? '<dt>Opened by</dt><dd data-testid="opened-by">' + esc(opener) + '</dd>' : '') +
      '<dt>Outcomes</dt><dd>' + c.lifetime.successes + ' ok · ' + c.lifetime.failures + ' failed · ' + c.lifetime.rateLimited + ' 429</dd>' +
      '<dt>Slow calls</dt><dd data-testid="slow-calls">' + esc(slowCalls(c)) + '</dd>' +
      '<dt>Requests</dt><dd>' + t.requests + '</dd><dt>Spend</dt><dd>$' + t.spendUsd.toFixed(4) + '</dd>' +
      '<dt>Streams rescued</dt><dd data-testid="continued">' + t.continued + '</dd>' +
      (c.forcedReason ? '<dt>Forced</dt><dd>' + esc(c.forcedReason) + '</dd>' : '') + '</dl>' +
      '<div class="actions"><button class="primary" data-act="ask-reset" data-testid="reset">Reset</button><button class="danger" data-act="ask-open" data-testid="force-open">Force open</button></div>' +
      '<div class="confirm" data-box="reset"><span>Close this circuit now?</span><button class="primary" data-act="reset" data-testid="confirm-reset">Yes, reset</button><button data-act="cancel">Cancel</button></div>' +
      '<div class="confirm" data-box="open"><input placeholder="Reason" data-field="reason" maxlength="200"><input placeholder="Minutes (empty: until reset)" data-field="minutes" inputmode="numeric"><button class="danger" data-act="open" data-testid="confirm-open">Force open</button><button data-act="cancel">Cancel</button></div>' +
      '<ul>' + transitions + '</ul></article>';
  }

${TENANTS_SCRIPT}
  function refreshAll() { refresh(); refreshTenants(); }

  async function refresh() {
    try {
      const body = await api("/admin/circuits");
      circuits = body.circuits;
      const open = document.querySelector(".confirm.show");
      if (open) return; // do not redraw under an operator's open confirm box
      $("circuits").innerHTML = circuits.map(card).join("");
      $("updated").textContent = "Updated " + new Date().toLocaleTimeString();
      $("error").textContent = "";
      const sel = $("demo-model");
      if (sel && sel.options.length !== circuits.length) sel.innerHTML = circuits.map((c) => '<option>' + esc(c.model) + '</option>').join("");
    } catch (e) { $("error").textContent = e.message; }
  }

  $("circuits").addEventListener("click", async (ev) => {
    const btn = ev.target.closest("button"); if (!btn) return;
    const cardEl = btn.closest(".card"); const model = cardEl.dataset.model;
    const act = btn.dataset.act;
    const box = (name) => cardEl.querySelector('[data-box="' + name + '"]');
    if (act === "ask-reset") { box("reset").classList.add("show"); return; }
    if (act === "ask-open") { box("open").classList.add("show"); return; }
    if (act === "cancel") { btn.closest(".confirm").classList.remove("show"); return; }
    try {
      if (act === "reset") await api("/admin/circuits/" + encodeURIComponent(model) + "/reset", { method: "POST", body: JSON.stringify({ reason: "dashboard" }) });
      if (act === "open") {
        const reason = cardEl.querySelector('[data-field="reason"]').value.trim() || "dashboard";
        const minutes = Number(cardEl.querySelector('[data-field="minutes"]').value);
        const body = { reason }; if (minutes > 0) body.durationMs = Math.round(minutes * 60000);
        await api("/admin/circuits/" + encodeURIComponent(model) + "/open", { method: "POST", body: JSON.stringify(body) });
      }
      btn.closest(".confirm").classList.remove("show");
      refresh();
    } catch (e) { $("error").textContent = e.message; }
  });

  setInterval(() => {
    for (const el of document.querySelectorAll("[data-countdown]")) {
      const t = Number(el.dataset.countdown); if (!t) continue;
      const s = Math.max(0, Math.ceil((t - Date.now()) / 1000)); el.textContent = s === 0 ? "due now" : s + " s";
    }
  }, 500);

  async function setupDemo() {
    try { await api("/admin/demo/faults"); $("demo").style.display = "flex"; } catch { return; }
  }
  $("demo-break").addEventListener("click", async () => {
    const model = $("demo-model").value; const mode = $("demo-mode").value;
    const fault = mode === "status429" ? { model, mode: "status", status: 429, retryAfter: "10" } : mode === "status" ? { model, mode: "status", status: 503 } : { model, mode, delayMs: 5000, after: 3 };
    try { await api("/admin/demo/faults", { method: "POST", body: JSON.stringify(fault) }); $("demo-status").textContent = model + ": " + mode; }
    catch (e) { $("error").textContent = e.message; }
  });
  $("demo-clear").addEventListener("click", async () => {
    try { await api("/admin/demo/faults", { method: "DELETE" }); $("demo-status").textContent = "all healthy"; } catch (e) { $("error").textContent = e.message; }
  });
  $("demo-traffic").addEventListener("click", async () => {
    const model = $("demo-model").value; const counts = {};
    for (let i = 0; i < 10; i++) {
      // Every other request streams, so a stream cut mid-way and rescued shows as such.
      const stream = i % 2 === 1;
      const res = await fetch("/v1/chat/completions", { method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify({ model, stream, messages: [{ role: "user", content: "demo " + i }] }) });
      const source = res.headers.get("x-gateway-source");
      let key = res.status + (source ? " from " + source + " (" + res.headers.get("x-gateway-model") + ")" : " error");
      if (stream && res.ok) {
        const text = await res.text();
        key += text.trimEnd().endsWith("data: [DONE]") ? (text.includes('"x_gateway"') ? ", stream rescued" : ", stream whole") : ", stream broken";
      } else await res.body?.cancel();
      counts[key] = (counts[key] || 0) + 1;
    }
    $("demo-status").textContent = Object.entries(counts).map(([k, n]) => n + "× " + k).join(", ");
    refreshAll();
  });
  $("login-form").addEventListener("submit", (ev) => { ev.preventDefault(); const v = $("token").value.trim(); if (v) { sessionStorage.setItem(KEY, v); show(); } });
  $("logout").addEventListener("click", () => { sessionStorage.removeItem(KEY); show(); });
  show();
})();
</script>
</body>
</html>`;
