// The one error type the client throws for an answer of the broker that is not a success.

export class BrokerError extends Error {
  override readonly name = 'BrokerError';

  constructor(
    /** The HTTP status (0 when no HTTP answer arrived). */
    readonly status: number,
    message: string,
    /** The parsed JSON body when there was one. */
    readonly body?: unknown,
  ) {
    super(message);
  }

  /** Worth retrying later: the broker is busy or failing, not refusing this request for good. */
  get transient(): boolean {
    return this.status === 0 || this.status === 408 || this.status === 429 || this.status >= 500;
  }
}

/** Builds a BrokerError from a non-2xx response, using the broker's `{"error": "..."}` message. */
export async function errorFrom(res: Response, what: string): Promise<BrokerError> {
  let body: unknown;
  let message = `${what}: HTTP ${res.status}`;
  try {
    const text = await res.text();
    body = text ? JSON.parse(text) : undefined;
    const error = (body as { error?: unknown } | undefined)?.error;
    if (typeof error === 'string') message = `${what}: ${error} (HTTP ${res.status})`;
  } catch {
    /* not JSON: keep the status line */
  }
  return new BrokerError(res.status, message, body);
}
