// Which peers are our reverse proxies (--trust_proxy), for the client address (per-IP rate limits) and
// for the per-IP connection cap, which a proxy carrying everyone's connections must not hit.
//
// fastify 5 takes a numeric `trustProxy` to mean "trust no hop" (it cannot check the peer), which would
// silently key every client behind the proxy on the proxy's address; a function says what we mean.
import { BlockList, isIP } from 'node:net';
import type { TrustProxy } from '../config.js';

/** proxy-addr's trust function: is the address at this hop (0 = the socket's peer) a proxy of ours? */
export type TrustFunction = (address: string, hop: number) => boolean;

export interface ProxyTrust {
  /** For fastify's trustProxy; undefined when no proxy is trusted (X-Forwarded-For is ignored). */
  hop: TrustFunction | undefined;
  /** Whether connections from this peer are its clients' (with a hop count, any peer may be the proxy). */
  peer: (address: string) => boolean;
}

export function proxyTrust(trust: TrustProxy): ProxyTrust {
  if (typeof trust === 'number') {
    // N proxies in front: the peer and the N-1 entries they appended are theirs; the next is the client.
    if (trust === 0) return { hop: undefined, peer: () => false };
    return { hop: (_address, hop) => hop < trust, peer: () => true };
  }
  const proxies = new BlockList();
  for (const entry of trust) {
    const [address, prefix] = entry.split('/');
    const type = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (prefix === undefined) proxies.addAddress(address, type);
    else proxies.addSubnet(address, Number(prefix), type);
  }
  // An X-Forwarded-For entry may be any text; only an address can be a proxy of ours.
  const listed = (address: string) => {
    const family = isIP(address);
    return family !== 0 && proxies.check(address, family === 6 ? 'ipv6' : 'ipv4');
  };
  return { hop: listed, peer: listed };
}
