// The browser example's script: bundled with esbuild (serve.mjs) because the SDK is an npm package.
// `?gateway=` names the gateway (default http://localhost:8787) and `?tenant=` the JWT tenant (demo).
import OpenAI from "openai";

const params = new URLSearchParams(location.search);
const gateway = (params.get("gateway") ?? "http://localhost:8787").replace(/\/+$/, "");
const tenant = params.get("tenant") ?? "demo";
const $ = (id) => document.getElementById(id);

/**
 * A token for one user. Here dev mode mints it; in production the app's own backend (or Auth0,
 * Firebase, Supabase, Clerk, Cognito) issues it after the user signs in, with `iss`, `aud`, `sub`
 * and an `exp` minutes away, so a token copied out of the page is worth little and only to its user.
 */
async function userToken(user, plan) {
  const query = new URLSearchParams({ tenant, sub: user });
  if (plan) query.set("plan", plan);
  const res = await fetch(`${gateway}/__dev/token?${query}`);
  if (!res.ok) throw new Error(`token route answered ${res.status}: ${await res.text()}`);
  return (await res.json()).token;
}

function status(state, text) {
  $("status").dataset.state = state;
  $("status").textContent = text;
}

async function ask(event) {
  event.preventDefault();
  $("answer").textContent = "";
  status("asking", "Fetching a token…");
  try {
    const token = await userToken($("user").value, $("plan").value);
    // Safe here, unlike with a provider key: the token is short-lived and names one user, whose
    // limits the gateway enforces. The gateway's own upstream key never reaches the browser.
    const client = new OpenAI({ apiKey: token, baseURL: `${gateway}/v1`, dangerouslyAllowBrowser: true });
    const stream = await client.chat.completions.create({
      model: $("model").value,
      stream: true,
      messages: [{ role: "user", content: $("prompt").value }],
    });
    status("streaming", "Streaming…");
    let chunks = 0;
    for await (const chunk of stream) {
      $("answer").textContent += chunk.choices[0]?.delta?.content ?? "";
      $("answer").dataset.chunks = String(++chunks);
    }
    status("done", `Done: ${chunks} chunks.`);
  } catch (err) {
    status("error", `Failed: ${err instanceof Error ? err.message : String(err)}`);
  }
}

$("ask").addEventListener("submit", ask);
