// broker/client: the public surface of the client package export.
export { BrokerClient, type BrokerClientOptions, type HistoryEvent, type Verification } from './client.js';
export { Subscription, RESET_EVENT, type BrokerEvent, type ErrorInfo, type SubscribeOptions } from './subscription.js';
export { LatestView, type LatestChange, type LatestEntry } from './latest.js';
export { SseParser, type SseHandlers, type SseMessage } from './sse-parser.js';
export { BrokerError } from './errors.js';
export { backoffDelay, type BackoffOptions } from './backoff.js';
export { tokenTimes } from './jwt.js';
