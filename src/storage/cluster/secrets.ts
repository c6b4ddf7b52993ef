// The secrets of a cluster: made once by whichever node starts first, then the same on every node. A
// node offers the ones it would generate (secrets.offer); the apply keeps each key's first offer in stream
// order, so every node reads the same kept value (meta `cluster:<key>`) once its offer is applied.
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../lib/atomic-file.js';
import type { Database } from '../lmdb/database.js';
import { ADMIN_TOKEN_FILE, type SecretStore, type StoredSecrets } from '../secrets.js';
import type { ClusterNode } from './node.js';

const kept = (db: Database, key: string): string | undefined => {
  const value = db.meta.get(`cluster:${key}`);
  return typeof value === 'string' ? value : undefined;
};

export class ClusterSecretStore implements SecretStore {
  constructor(
    private readonly db: Database,
    private readonly node: ClusterNode,
  ) {}

  async load(given: { jwtSecret?: string; adminToken?: string }): Promise<StoredSecrets> {
    // A secret given to a node while the cluster keeps none is offered as the cluster's (broker migrate
    // offers the old server's this way, so its tokens and admin token keep working); else one generated.
    const offer: Record<string, string> = {};
    if (!kept(this.db, 'jwt_secret')) offer.jwt_secret = given.jwtSecret ?? randomBytes(32).toString('base64url');
    let adminTokenFile: string | undefined;
    if (given.adminToken !== undefined && !kept(this.db, 'admin_token')) offer.admin_token = given.adminToken;
    else if (given.adminToken === undefined && !kept(this.db, 'admin_token')) {
      offer.admin_token = randomBytes(32).toString('base64url');
      // Written before it is offered (a failed write offers no token nobody was told), removed if
      // another node's offer came first.
      adminTokenFile = join(this.db.path, ADMIN_TOKEN_FILE);
      writeFileAtomic(adminTokenFile, `${offer.admin_token}\n`, 0o600);
    }
    if (Object.keys(offer).length > 0) await this.node.write({ op: 'secrets.offer', values: offer });
    if (adminTokenFile && kept(this.db, 'admin_token') !== offer.admin_token) {
      rmSync(adminTokenFile, { force: true });
      adminTokenFile = undefined;
    }
    return {
      jwtSecret: given.jwtSecret ?? kept(this.db, 'jwt_secret')!,
      adminToken: given.adminToken ?? kept(this.db, 'admin_token')!,
      adminTokenFile,
      biscuitPrivateKey: kept(this.db, 'biscuit_private_key'),
      topicPrivateJwk: kept(this.db, 'topic_private_jwk'),
    };
  }

  async saveBiscuitKey(hex: string): Promise<void> {
    await this.node.write({ op: 'secrets.offer', values: { biscuit_private_key: hex } });
  }

  async saveTopicKey(jwk: string): Promise<void> {
    await this.node.write({ op: 'secrets.offer', values: { topic_private_jwk: jwk } });
  }
}
