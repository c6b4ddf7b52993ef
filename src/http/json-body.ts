// Request bodies are JSON whatever their Content-Type says (the original ignored it). Deeply nested
// JSON is refused by a linear scan before parsing, so it costs no recursion and no stack. Everything
// here is linear in the body's size: a plain JSON.parse (a reviver calls back into JS for every
// value, several times the parse's cost), then a walk only when the text could hold what it looks for.
import { badRequest } from '../errors.js';

export const MAX_JSON_DEPTH = 64;
/** The body limit of every route without a `data` field (login, reset, admin): credentials and names. */
export const SMALL_BODY_LIMIT = 8 * 1024;

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

/**
 * The body arrives as UTF-8 decoded with replacement, so the text itself is well-formed: a lone
 * surrogate can only come from a `\uD800`-style escape, which JSON allows. Stored, it would read back
 * as U+FFFD (a username nobody can log in with). Refused in keys and values alike.
 */
const illFormed = (what: string) => `${what} holds ill-formed Unicode (a lone surrogate such as "\\ud800")`;
const PROTO_KEY = '"__proto__" is not allowed as a key';
/** In a `u` regex a surrogate pair is one code point, so only a lone surrogate is in category Cs. */
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Walks the parsed value (at most MAX_JSON_DEPTH deep, so recursion is bounded) for `__proto__` keys,
 * which JSON.parse keeps as own properties but a later spread or merge would turn into a prototype,
 * and, when `checkUnicode`, for strings that are not well-formed. `path` names the field in the error.
 */
function refuseHostile(value: unknown, checkUnicode: boolean, path: string): void {
  if (typeof value === 'string') {
    if (checkUnicode && LONE_SURROGATE.test(value))
      throw badRequest(illFormed(path ? `field "${path}"` : 'the request body'));
  } else if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) refuseHostile(value[i], checkUnicode, `${path}[${i}]`);
  } else if (value !== null && typeof value === 'object') {
    for (const key of Object.keys(value)) {
      if (key === '__proto__') throw badRequest(PROTO_KEY);
      if (checkUnicode && LONE_SURROGATE.test(key))
        throw badRequest(illFormed(path ? `a key in field "${path}"` : 'a key'));
      refuseHostile((value as Record<string, unknown>)[key], checkUnicode, path ? `${path}.${key}` : key);
    }
  }
}

/** Parses a body; `__proto__` keys (however escaped) and ill-formed Unicode are refused with a 400. */
export function parseJsonBody(text: string): unknown {
  if (text.trim() === '') throw badRequest('request body must be JSON');
  if (jsonDepthExceeds(text, MAX_JSON_DEPTH)) throw badRequest(`JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw badRequest(`malformed JSON: ${(err as Error).message}`);
  }
  // Without a `\u` escape no string can hold a lone surrogate, nor spell `__proto__` other than plainly.
  const escaped = text.includes('\\u');
  if (escaped || text.includes('__proto__')) refuseHostile(value, escaped, '');
  return value;
}
