// Biscuit tokens for /verify: one authority fact `right("<resource>", "<operation>")` per scope, signed
// with one root key pair kept in the database, so a microservice checks them offline against `key`.
// biscuit-wasm ships as a bundler module (`import * as wasm from "./x.wasm"`), which Node 20 loads only
// with --experimental-wasm-modules; instantiating the .wasm ourselves avoids the flag.
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

type BiscuitModule = typeof import('@biscuit-auth/biscuit-wasm');

let loaded: Promise<BiscuitModule> | undefined;

export function loadBiscuit(): Promise<BiscuitModule> {
  loaded ??= (async () => {
    const moduleDir = dirname(fileURLToPath(import.meta.resolve('@biscuit-auth/biscuit-wasm')));
    const bg = await import(pathToFileURL(join(moduleDir, 'biscuit_bg.js')).href);
    const compiled = await WebAssembly.compile(await readFile(join(moduleDir, 'biscuit_bg.wasm')));
    const imports: Record<string, WebAssembly.ModuleImports> = { './biscuit_bg.js': bg };
    for (const { module } of WebAssembly.Module.imports(compiled)) {
      imports[module] ??= await import(pathToFileURL(join(moduleDir, module)).href);
    }
    // The wasm prints a greeting through console.log at start; keep the server's stdout to its logs.
    const log = console.log;
    console.log = () => {};
    try {
      const instance = await WebAssembly.instantiate(compiled, imports);
      bg.__wbg_set_wasm(instance.exports);
      (instance.exports as { __wbindgen_start?: () => void }).__wbindgen_start?.();
    } finally {
      console.log = log;
    }
    return bg as BiscuitModule;
  })();
  return loaded;
}

export interface BiscuitIssuer {
  publicKey: number[];
  privateKeyText: string;
  mint(scopes: string[]): number[];
}

export async function createBiscuitIssuer(privateKeyText: string | undefined): Promise<BiscuitIssuer> {
  const b = await loadBiscuit();
  const pair = privateKeyText ? b.KeyPair.fromPrivateKey(b.PrivateKey.fromString(privateKeyText)) : new b.KeyPair();
  const publicBytes = new Uint8Array(32);
  pair.getPublicKey().toBytes(publicBytes);
  const issuer: BiscuitIssuer = {
    publicKey: Array.from(publicBytes),
    privateKeyText: pair.getPrivateKey().toString(),
    mint(scopes) {
      const builder = b.Biscuit.builder();
      for (const scope of scopes) {
        const [resource, operation] = scope.split(':');
        // Parameters, not string building: a scope can never inject datalog.
        builder.addCodeWithParameters('right({resource}, {operation});', { resource, operation }, {});
      }
      return Array.from(builder.build(pair.getPrivateKey()).toBytes());
    },
  };
  // The first token of a process is slow (wasm warm-up): pay it at start, not on a user's request.
  issuer.mint(['warm:up']);
  return issuer;
}
