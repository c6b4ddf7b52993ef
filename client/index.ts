// broker/client: the public surface of the client package export.
export { BrokerClient, type BrokerClientOptions } from './client.js';
export { Subscription } from './subscription.js';
export type { BrokerEvent, ErrorInfo, SubscribeOptions } from './subscribe-options.js';
export {
  EPOCH_HEADER,
  EPOCH_PARAM,
  RESET_EVENT,
  type HistoryEvent,
  type HistoryPage,
  type Verification,
} from './protocol.js';
export { LatestView, type LatestChange, type LatestEntry } from './latest.js';
export { SseParser, type SseHandlers, type SseMessage } from './sse-parser.js';
export { BrokerError } from './errors.js';
export { backoffDelay, type BackoffOptions } from './backoff.js';
export { tokenTimes } from './jwt.js';
export { OIDC_LOGIN_PATH, oidcLoginUrl, readRedirect, type RedirectResult, type RedirectWindow } from './redirect.js';
export { subscribeTopics, type TopicMessage, type TopicSubscribeOptions, type TopicSubscription } from './topics.js';
