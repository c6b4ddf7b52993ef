// The shape of a flag and of the Config the flags resolve into (flags.ts holds the table itself).
import type { TrustProxy } from './flag-values.js';

export type FlagType = 'int' | 'string' | 'bool';

export interface FlagSpec {
  /** The flag as the user types it, underscores as in the original Broker: `--jwt_expiry`. */
  name: keyof Config;
  type: FlagType;
  /** undefined = no default (the help says what happens instead). */
  default: string | number | boolean | undefined;
  description: string;
  min?: number;
  max?: number;
  /** Shown in --help when there is no literal default. */
  defaultText?: string;
  /** The flag's own rule, instead of its type's (it also receives the default). */
  parse?: (name: string, value: unknown) => unknown;
  /** The flag alone (`--trust_proxy`) is allowed and means true, as for a bool. */
  valueOptional?: boolean;
}

export interface Config {
  port: number;
  host: string;
  origin: string;
  jwt_expiry: number;
  jwt_secret: string | undefined;
  jwt_secret_file: string | undefined;
  secure: boolean;
  auto_cert: boolean;
  key_path: string;
  cert_path: string;
  certs: string;
  db: string;
  domain: string | undefined;
  admin_token: string | undefined;
  admin_token_file: string | undefined;
  password_checker: boolean;
  totp_duration: number;
  https_port: number;
  http_port: number;
  acme_directory: string;
  acme_staging: boolean;
  acme_email: string | undefined;
  heartbeat: number;
  max_buffer: number;
  max_streams_per_user: number;
  history_max_age: number;
  history_max_events: number;
  body_limit: number;
  map_size: number;
  login_rate_limit: number;
  admin_rate_limit: number;
  trust_proxy: TrustProxy;
  log_level: string;
  tenant_insert_rate: number;
  tenant_quota: number;
  tenant_max_event_names: number;
  keep_alive_timeout: number;
  max_connections_per_ip: number;
  local: boolean;
  oidc_issuer_uri: string | undefined;
  oidc_client_id: string | undefined;
  oidc_client_secret: string | undefined;
  oidc_client_secret_file: string | undefined;
  oidc_redirect_base: string | undefined;
  oidc_tenant: string;
  oidc_scopes: string;
  management_app: string | undefined;
  crash_rate_limit: number;
  topic_public_key: string | undefined;
  metrics_token: string | undefined;
  metrics_token_file: string | undefined;
  dashboard: boolean;
  dashboard_dir: string | undefined;
  nats: string | undefined;
  nats_creds: string | undefined;
  nats_tls_ca: string | undefined;
  nats_replicas: number;
}
