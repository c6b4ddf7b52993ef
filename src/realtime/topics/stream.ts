// Topics live in the same insert-only log as tenants, under one reserved stream: one sequence of ids for
// every topic (one id resumes a stream of several topics), the same fsync'd commits, the same retention.
// The stream's name starts with U+007F (a control character), which normalizeName refuses in every new
// tenant name (identity/user-fields.ts), so no user's tenant can ever be it. In the log a topic message is
// an event named by its topic whose data is the message as a JSON string, so its SSE frame is exactly
// `event:<topic>`, `id:<id>`, `data:<message as a JSON string>`.
import type { EventRecord } from '../../storage/event-log.js';

export const TOPICS_STREAM = '\u007ftopics';

/** The hub's registry key of one topic's subscribers (never a tenant name: it starts with U+007F). */
export const topicKey = (topic: string) => `${TOPICS_STREAM}/${topic}`;

/** Where the hub fans a committed record out: its tenant's stream, or its topic's subscribers. */
export const keyOf = (record: EventRecord) =>
  record.tenant === TOPICS_STREAM ? topicKey(record.event) : record.tenant;

/** 1–256 characters, no whitespace or control characters (TOPICS-API.md); the reason when it is not one. */
export function invalidTopic(topic: unknown): string | undefined {
  if (typeof topic !== 'string' || topic.length === 0) return 'topic must be a non-empty string';
  if ([...topic].length > 256) return 'topic must be at most 256 characters';
  if (/[\s\p{Cc}\p{Cf}\p{Cs}]/u.test(topic)) return 'topic must not contain whitespace or control characters';
  return undefined;
}
