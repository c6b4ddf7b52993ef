// The flags of the features beside Broker's own: accounts (local mode, OIDC), apps, topics. One block
// per feature, so that flags.ts stays the core table; FLAGS is both, in this order.
import type { FlagSpec } from './flag-spec.js';

export const FEATURE_FLAGS: FlagSpec[] = [
  // Accounts: local single-user mode and sign-in through an OpenID Connect provider (identity/local.ts, oidc/).
  {
    name: 'local',
    type: 'bool',
    default: false,
    description: 'one user on loopback: no credentials = the user "local"',
  },
  {
    name: 'oidc_issuer_uri',
    type: 'string',
    default: undefined,
    defaultText: 'none (OIDC login off)',
    description: "the OpenID provider's issuer URL (Broker reads its discovery document)",
  },
  { name: 'oidc_client_id', type: 'string', default: undefined, defaultText: 'none', description: 'OIDC client id' },
  { name: 'oidc_client_secret', type: 'string', default: undefined, defaultText: 'none', description: 'its secret' },
  {
    name: 'oidc_client_secret_file',
    type: 'string',
    default: undefined,
    defaultText: 'none',
    description: 'read --oidc_client_secret from this file (trailing newline trimmed)',
  },
  {
    name: 'oidc_redirect_base',
    type: 'string',
    default: undefined,
    defaultText: 'none',
    description: "Broker's public base URL (the callback is <base>/auth/oidc/callback)",
  },
  {
    name: 'oidc_tenant',
    type: 'string',
    default: 'default',
    description: 'tenant of users a first OIDC login creates',
  },
  { name: 'oidc_scopes', type: 'string', default: 'openid email profile', description: 'OIDC scopes asked for' },
  // Apps (Darkstorm / Stupid Backend parity, src/apps).
  {
    name: 'management_app',
    type: 'string',
    default: undefined,
    description: "an app_id whose API keys are management keys: they act on any app's /{appID}/ routes",
  },
  {
    name: 'crash_rate_limit',
    type: 'int',
    default: 60,
    min: 0,
    description: 'crash reports a minute one API key may send; more answer 429 (0 = unlimited)',
  },
  // Topics (notiflux parity, src/realtime/topics).
  {
    name: 'topic_public_key',
    type: 'string',
    default: undefined,
    defaultText: '$JWT_PUBLIC_KEY_B64',
    description: 'PEM key(s), or base64 of them, trusted for ES256 topic tokens',
  },
  // Metrics (src/ops/metrics.ts): without a token /metrics answers loopback peers only.
  {
    name: 'metrics_token',
    type: 'string',
    default: undefined,
    defaultText: 'none (loopback only)',
    description: 'bearer token /metrics requires (then from anywhere; at least 32 bytes with --secure)',
  },
  {
    name: 'metrics_token_file',
    type: 'string',
    default: undefined,
    defaultText: 'none',
    description: 'read --metrics_token from this file (trailing newline trimmed)',
  },
  // The admin dashboard at /_/ (src/ops/dashboard).
  { name: 'dashboard', type: 'bool', default: true, description: 'serve the admin dashboard at /_/' },
  {
    name: 'dashboard_dir',
    type: 'string',
    default: undefined,
    defaultText: "Broker's dist/dashboard",
    description: 'serve the dashboard built into this directory (npm run build:dashboard makes it)',
  },
  // Cluster: several nodes on NATS JetStream, one logical Broker (storage/cluster/).
  {
    name: 'nats',
    type: 'string',
    default: undefined,
    defaultText: 'none (one node, LMDB)',
    description: 'run as a cluster node: NATS URLs, comma-separated (user:password@ or token@ in a URL logs in)',
  },
  {
    name: 'nats_creds',
    type: 'string',
    default: undefined,
    defaultText: 'none',
    description: 'a NATS .creds file (JWT and NKey seed) to log in with',
  },
  {
    name: 'nats_tls_ca',
    type: 'string',
    default: undefined,
    defaultText: 'none',
    description: "a CA file the NATS servers' TLS certificates are checked against",
  },
  {
    name: 'nats_replicas',
    type: 'int',
    default: 3,
    min: 1,
    max: 5,
    description: 'JetStream replicas of the stream, made by the first node (1 with a single NATS server)',
  },
];
