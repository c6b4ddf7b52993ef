// The server's secrets, generated at first start and kept in the database so that tokens survive
// restarts: what services.ts needs of a storage engine for them (lmdb/secrets.ts keeps them in meta).

/** Where a generated admin token is written, beside the database that keeps it. */
export const ADMIN_TOKEN_FILE = 'admin_token';

export interface StoredSecrets {
  jwtSecret: string;
  adminToken: string;
  /** Set when this start generated the admin token: the owner-only file it was written to (the CLI says where). */
  adminTokenFile: string | undefined;
  /** biscuit root private key, hex. */
  biscuitPrivateKey: string | undefined;
  /** Broker's own ES256 key for topic tokens, a private JWK as JSON (tokens/topic-tokens.ts). */
  topicPrivateJwk: string | undefined;
}

export interface SecretStore {
  /**
   * The JWT secret and the admin token (a given one wins; otherwise the kept one, generated and kept at
   * the first start, the admin token written to an owner-only file first), and the biscuit key if kept.
   */
  load(given: { jwtSecret?: string; adminToken?: string }): Promise<StoredSecrets>;
  /** Keeps the biscuit root key made at the first start. */
  saveBiscuitKey(hex: string): Promise<void>;
  /** Keeps the topic-token key pair made at the first start. */
  saveTopicKey(jwk: string): Promise<void>;
}
