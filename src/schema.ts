// Small builders for the JSON schemas fastify validates bodies with (strict types, no coercion).
export const str = { type: 'string' } as const;
export const nullableStr = { type: ['string', 'null'] } as const;
export const nullableBool = { type: ['boolean', 'null'] } as const;
export const nullableScopes = { type: ['array', 'null'], items: { type: 'string' } } as const;
export const anyJson = {} as const;

export function body(required: string[], properties: Record<string, object>) {
  return { body: { type: 'object', required, properties } };
}
