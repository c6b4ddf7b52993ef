// Request bodies are JSON whatever their Content-Type says (the original ignored it). Deeply nested
// JSON is refused by a linear scan before parsing, so it costs no recursion and no stack.
import { badRequest } from './errors.js';

export const MAX_JSON_DEPTH = 64;

export function jsonDepthExceeds(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 /* { */ || c === 91 /* [ */) {
      if (++depth > limit) return true;
    } else if (c === 125 || c === 93) depth--;
  }
  return false;
}

/** Parses a body; `__proto__`/`constructor.prototype` keys are refused (prototype poisoning). */
export function parseJsonBody(text: string): unknown {
  if (text.trim() === '') throw badRequest('request body must be JSON');
  if (jsonDepthExceeds(text, MAX_JSON_DEPTH)) throw badRequest(`JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
  try {
    return JSON.parse(text, (key, value) => {
      if (key === '__proto__') throw new SyntaxError('"__proto__" is not allowed as a key');
      return value;
    });
  } catch (err) {
    throw badRequest(`malformed JSON: ${(err as Error).message}`);
  }
}
