// Secrets and optional vars that wrangler.toml does not declare, so `wrangler types` cannot see them.
interface Env {
  HOLYSHEEP_API_KEY?: string;
  ADMIN_TOKEN?: string;
  CLIENT_KEYS?: string;
  ALERT_WEBHOOK_URL?: string;
  ALLOW_ANONYMOUS?: string;
  ALLOWED_ORIGINS?: string;
  DEV_MODE?: string;
  GATEWAY_CONFIG?: string | Record<string, unknown>;
}
