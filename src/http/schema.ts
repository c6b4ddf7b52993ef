// Small builders for the JSON schemas fastify validates bodies with (strict types, no coercion).
// A body holds only the fields its route knows: a typo ("twofactor") would otherwise be silently
// ignored and the request "succeed" without what the caller asked for.
import type { FastifySchemaValidationError } from 'fastify';

export const str = { type: 'string' } as const;
export const nullableStr = { type: ['string', 'null'] } as const;
export const nullableBool = { type: ['boolean', 'null'] } as const;
export const nullableScopes = { type: ['array', 'null'], items: { type: 'string' } } as const;
export const anyJson = {} as const;

export function body(required: string[], properties: Record<string, object>) {
  return { body: { type: 'object', required, properties, additionalProperties: false } };
}

/** fastify's schemaErrorFormatter: its own wording, except that an unknown field is named. */
export function formatSchemaErrors(errors: FastifySchemaValidationError[], dataVar: string): Error {
  const text = errors.map((e) => {
    const unknown =
      e.keyword === 'additionalProperties'
        ? (e.params as { additionalProperty?: unknown }).additionalProperty
        : undefined;
    return typeof unknown === 'string'
      ? `unknown field ${JSON.stringify(unknown)}`
      : `${dataVar}${e.instancePath ?? ''} ${e.message}`;
  });
  return new Error(text.join(', '));
}
