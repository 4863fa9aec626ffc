/**
 * The dashboard's tenants panel (DESIGN §14): each tenant's spend today against its budget and
 * its requests this minute against its limit, as bars, and a JWT tenant's top users. Pieces of
 * the one self-contained page (dashboard.ts): its style, its markup, and a fragment of its script
 * that uses the page's `api`, `esc` and `$`.
 */
export const TENANTS_STYLE = `
  .tenant { border-left-color:var(--cool); }
  .meter { margin:.6rem 0 0; font-size:.88rem; }
  .meter .row { font-variant-numeric:tabular-nums; }
  .bar { height:.5rem; margin-top:.25rem; background:#222733; border-radius:999px; overflow:hidden; }
  .bar > span { display:block; height:100%; background:var(--closed); }
  .bar > span.warm { background:var(--half); } .bar > span.hot { background:var(--open); }
  table.users { width:100%; margin-top:.75rem; border-collapse:collapse; font-size:.82rem; table-layout:fixed; }
  table.users th { color:var(--muted); font-weight:500; text-align:left; padding:.2rem 0; }
  table.users td { padding:.25rem 0; border-top:1px solid var(--line); font-variant-numeric:tabular-nums; }
  table.users .num { text-align:right; width:4.5rem; } table.users .tier { width:3.5rem; }
  table.users .who { overflow:hidden; text-overflow:ellipsis; white-space:nowrap; padding-right:.5rem; }
`;

export const TENANTS_MARKUP = `
  <h2 class="panel-title">Tenants</h2>
  <section id="tenants" class="grid" data-testid="tenants"></section>
`;

export const TENANTS_SCRIPT = `
  function meter(label, used, limit, text) {
    if (limit === null || limit === undefined) return '<div class="meter"><div class="row"><span class="muted">' + label + '</span><span>' + text(used) + ' · no limit</span></div></div>';
    const pct = limit > 0 ? Math.min(100, (used / limit) * 100) : 100;
    const heat = pct >= 90 ? "hot" : pct >= 70 ? "warm" : "";
    return '<div class="meter"><div class="row"><span class="muted">' + label + '</span><span>' + text(used) + ' of ' + text(limit) + '</span></div>' +
      '<div class="bar" role="meter" aria-label="' + label + '" aria-valuemin="0" aria-valuemax="' + limit + '" aria-valuenow="' + used + '"><span class="' + heat + '" style="width:' + pct.toFixed(1) + '%"></span></div></div>';
  }
  const usd = (n) => "$" + (n >= 1 ? n.toFixed(2) : n.toFixed(4));
  function usersTable(users) {
    if (!users) return "";
    if (users.length === 0) return '<p class="muted">No users today.</p>';
    return '<table class="users"><thead><tr><th class="who">Top users</th><th class="tier">Tier</th><th class="num">Spend</th><th class="num">Req</th></tr></thead><tbody>' +
      users.map((u) => '<tr data-testid="tenant-user" data-user="' + esc(u.user) + '"><td class="who" title="' + esc(u.user) + '">' + esc(u.user) + '</td><td class="tier">' + esc(u.tier ?? "–") +
        '</td><td class="num">' + usd(u.today.spendUsd) + '</td><td class="num">' + u.today.requests + '</td></tr>').join("") + '</tbody></table>';
  }
  function tenantCard(t, users) {
    return '<article class="card tenant" data-testid="tenant" data-tenant="' + esc(t.tenant) + '">' +
      '<div class="row"><span class="model">' + esc(t.tenant) + '</span>' + (t.endUsers ? '<span class="badge b-cooling">JWT users</span>' : '') + '</div>' +
      meter("Spend today", t.today.spendUsd, t.limits.dailyBudgetUsd, usd) +
      meter("Requests this minute", t.thisMinute.requests, t.limits.requestsPerMinute, String) +
      usersTable(users) + '</article>';
  }
  async function refreshTenants() {
    try {
      const { tenants } = await api("/admin/tenants");
      const users = await Promise.all(tenants.map((t) => t.endUsers ? api("/admin/tenants/" + encodeURIComponent(t.tenant) + "/users?limit=5").then((b) => b.users) : null));
      $("tenants").innerHTML = tenants.map((t, i) => tenantCard(t, users[i])).join("") || '<p class="muted">No tenants.</p>';
    } catch (e) { $("error").textContent = e.message; }
  }
`;
