// A summary and a tag for each route of the contracts (API.md, APPS-API.md, TOPICS-API.md), for the
// OpenAPI document: what a reader sees first in /docs. The schemas themselves stay with their routes.

type Tag = 'health' | 'users' | 'account' | 'realtime' | 'topics' | 'apps' | 'app users' | 'ops';

const ROUTES: Record<string, [Tag, string]> = {
  'GET /': ['health', 'Health check'],
  'POST /create_user': ['users', 'Create a user (admin)'],
  'POST /login': ['account', 'Log in with username, password (and a TOTP code): a JWT'],
  'GET /sse': ['realtime', "Stream the tenant's events (or topics') as server-sent events"],
  'POST /insert': ['realtime', "Append an event to the user's tenant log"],
  'GET /events': ['realtime', "A page of the tenant's event history"],
  'GET /verify': ['account', "The token's user, scopes and expiry, with a biscuit"],
  'POST /revoke_user': ['users', 'Revoke a user: logins, tokens and streams end (admin)'],
  'POST /unrevoke_user': ['users', 'Restore a revoked user (admin)'],
  'POST /list_users': ['users', 'List users (admin)'],
  'POST /get_user': ['users', 'One user (admin)'],
  'POST /update_user': ['users', "Change a user's fields (admin)"],
  'POST /create_qr': ['users', "A user's TOTP QR code as a PNG (admin)"],
  'POST /create_totp': ['users', 'A password reset code for a user (admin)'],
  'POST /password_reset': ['account', 'Set a new password with a reset code'],
  'POST /change_password': ['account', 'Change your own password'],
  'POST /enroll_totp': ['account', 'Start two-factor enrolment'],
  'POST /confirm_totp': ['account', 'Confirm two-factor enrolment with a code'],
  'POST /create_recovery_codes': ['account', 'New two-factor recovery codes'],
  'POST /logout': ['account', 'End this token'],
  'POST /logout_all': ['account', 'End every token of the user'],
  'POST /unlink_identity': ['account', 'Unlink an OpenID Connect identity'],
  'GET /auth/oidc/login': ['account', 'Start an OpenID Connect login'],
  'GET /auth/oidc/callback': ['account', "The OpenID provider's redirect back"],
  'POST /auth/oidc/totp': ['account', 'The second factor of an OpenID Connect login'],
  'GET /health': ['topics', 'Health check (notiflux)'],
  'GET /.well-known/jwks.json': ['topics', 'Public keys of the topic tokens Broker issues'],
  'GET /ws': ['topics', 'Subscribe to topics over WebSocket (notiflux protocol)'],
  'POST /broadcast': ['topics', 'Publish to a topic'],
  'GET /presence': ['topics', 'Who is subscribed to a topic'],
  'POST /create_topic_token': ['topics', 'Issue a topic token (admin)'],
  'POST /create_app': ['apps', 'Create an app (admin)'],
  'POST /list_apps': ['apps', 'List apps (admin)'],
  'POST /delete_app': ['apps', 'Delete an app and its keys (admin)'],
  'POST /create_api_key': ['apps', 'Create an API key; its secret is shown once (admin)'],
  'POST /list_api_keys': ['apps', 'List API keys (admin)'],
  'POST /update_api_key': ['apps', 'Change an API key (admin)'],
  'POST /delete_api_key': ['apps', 'Delete an API key (admin)'],
  'POST /count': ['apps', 'Count an active user (anonymous id, platform)'],
  'POST /log': ['apps', 'Count an active user (Stupid Backend)'],
  'GET /count': ['apps', 'Active users in the last 30 days'],
  'GET /:appID/count': ['apps', "An app's active users (management key)"],
  'POST /crash': ['apps', 'Report a crash'],
  'GET /crash': ['apps', "The key's app's crash reports"],
  'GET /:appID/crash': ['apps', "An app's crash reports (management key)"],
  'DELETE /crash/:crashID': ['apps', 'Delete a crash report'],
  'DELETE /:appID/crash/:crashID': ['apps', "Delete an app's crash report (management key)"],
  'POST /crash/archive': ['apps', 'Archive matching crashes'],
  'POST /:appID/crash/archive': ['apps', "Archive an app's matching crashes (management key)"],
  'POST /user/create': ['app users', 'Create a user in the app (Darkstorm)'],
  'POST /user/login': ['app users', 'Log in (Darkstorm)'],
  'POST /user/changepassword': ['app users', 'Change a password (Darkstorm)'],
  'DELETE /user/:userID': ['app users', 'Delete a user (management)'],
  'POST /createUser': ['app users', 'Create a user in the app (Stupid Backend)'],
  'POST /auth': ['app users', 'Log in (Stupid Backend)'],
};

/** The summary and tags of a route of the contracts, or undefined (a route this table does not know). */
export function describeRoute(method: string | string[], url: string): { summary: string; tags: string[] } | undefined {
  const first = [method].flat()[0];
  const entry = ROUTES[`${first === 'HEAD' ? 'GET' : first} ${url}`];
  return entry && { summary: entry[1], tags: [entry[0]] };
}
