// Test certificates made with node:crypto alone (no openssl binary): a tiny DER writer for exactly the
// X.509 v3 fields TLS needs. Tests need validity windows to the second (a certificate that becomes due
// for renewal a few seconds after the broker starts), which `openssl req -days` cannot express.
import { X509Certificate, createPrivateKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isIPv4 } from 'node:net';

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
const tlv = (tag: number, ...content: Buffer[]) => {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), length(body.length), body]);
};
const seq = (...c: Buffer[]) => tlv(0x30, ...c);
const set = (...c: Buffer[]) => tlv(0x31, ...c);
const bool = (v: boolean) => tlv(0x01, Buffer.from([v ? 0xff : 0]));
const octets = (b: Buffer) => tlv(0x04, b);
const bits = (b: Buffer) => tlv(0x03, Buffer.from([0]), b);
const explicit = (n: number, c: Buffer) => tlv(0xa0 + n, c);

function integer(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  const trimmed = b.subarray(i);
  return tlv(0x02, trimmed[0] & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}

function oid(text: string): Buffer {
  const parts = text.split('.').map(Number);
  const out = [parts[0] * 40 + parts[1]];
  for (const p of parts.slice(2)) {
    const chunk = [p & 0x7f];
    for (let v = Math.floor(p / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift(0x80 | (v & 0x7f));
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

function time(date: Date): Buffer {
  const iso = date.toISOString().replace(/[-:T]/g, '').slice(0, 14); // YYYYMMDDHHMMSS
  return date.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(`${iso.slice(2)}Z`)) : tlv(0x18, Buffer.from(`${iso}Z`));
}

const name = (cn: string) => seq(set(seq(oid('2.5.4.3'), tlv(0x0c, Buffer.from(cn)))));
const ECDSA_SHA256 = seq(oid('1.2.840.10045.4.3.2'));

export interface Issued {
  key: KeyObject;
  keyPem: string;
  certPem: string;
  cn: string;
  serial: string;
}

export interface IssueOptions {
  cn: string;
  /** DNS names and IP addresses for subjectAltName (leaf certificates). */
  names?: string[];
  ca?: boolean;
  notBefore?: Date;
  notAfter?: Date;
  /** Signed by this CA; self-signed when absent. */
  issuer?: Issued;
}

export function issue(options: IssueOptions): Issued {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const serial = randomBytes(12);
  serial[0] &= 0x7f;
  const notBefore = options.notBefore ?? new Date(Date.now() - 60_000);
  const notAfter = options.notAfter ?? new Date(Date.now() + 365 * 24 * 3600_000);
  const extensions: Buffer[] = [seq(oid('2.5.29.19'), bool(true), octets(options.ca ? seq(bool(true)) : seq()))];
  if (options.ca) extensions.push(seq(oid('2.5.29.15'), bool(true), octets(tlv(0x03, Buffer.from([1, 0x06])))));
  if (options.names?.length) {
    const general = options.names.map((n) =>
      isIPv4(n) ? tlv(0x87, Buffer.from(n.split('.').map(Number))) : tlv(0x82, Buffer.from(n)),
    );
    extensions.push(seq(oid('2.5.29.17'), octets(seq(...general))));
  }
  const tbs = seq(
    explicit(0, integer(Buffer.from([2]))),
    integer(serial),
    ECDSA_SHA256,
    name(options.issuer?.cn ?? options.cn),
    seq(time(notBefore), time(notAfter)),
    name(options.cn),
    publicKey.export({ type: 'spki', format: 'der' }),
    explicit(3, seq(...extensions)),
  );
  const signature = sign('sha256', tbs, options.issuer?.key ?? privateKey);
  const der = seq(tbs, ECDSA_SHA256, bits(signature));
  const base64 = der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n');
  const certPem = `-----BEGIN CERTIFICATE-----\n${base64}-----END CERTIFICATE-----\n`;
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  // Parse it back: a malformed certificate fails here, in the helper, not deep inside a handshake.
  const parsed = new X509Certificate(certPem);
  return { key: createPrivateKey(keyPem), keyPem, certPem, cn: options.cn, serial: parsed.serialNumber };
}
