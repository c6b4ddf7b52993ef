// Users through an app (Darkstorm's /user/… and Stupid Backend's /createUser and /auth), in the answers
// those servers gave: app-users.ts does the work with Broker's identity.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppUsers } from './app-users.js';
import type { Apps } from './apps.js';
import type { Need } from './authorize.js';
import { AppError } from './errors.js';
import { appKeyOf, field, objectBody, type requireKey } from './routes.js';

type On = (need: Need) => { preParsing: ReturnType<typeof requireKey> };

/** The per-IP limit of Broker's own login routes: each of these costs an argon2 run. */
const login = { config: { rateLimitGroup: 'login' as const } };
const INVALID = 'invalid username or password';

export function appUserRoutes(scope: FastifyInstance, apps: Apps, on: On): void {
  const users: AppUsers = apps.users;
  const user = { ...on({ permission: 'user' }), ...login };
  const credentials = (req: FastifyRequest) => {
    const b = objectBody(req);
    return { username: field(b, 'username'), password: field(b, 'password') };
  };

  scope.post('/user/create', user, async (req, reply) => {
    const b = objectBody(req);
    const input = { username: field(b, 'username'), password: field(b, 'password'), email: field(b, 'email') };
    return reply.code(201).send(await users.create(appKeyOf(req).app, input));
  });

  scope.post('/createUser', user, async (req, reply: FastifyReply) => {
    const b = objectBody(req);
    const input = { username: field(b, 'username'), password: field(b, 'password'), email: field(b, 'email') };
    try {
      const { token } = await users.create(appKeyOf(req).app, input);
      return reply.code(201).send({ token, problem: '' });
    } catch (err) {
      if (!(err instanceof AppError) || !err.problem) throw err;
      return reply.code(400).send({ token: '', problem: err.problem });
    }
  });

  scope.post('/user/login', user, async (req) => {
    const { username, password } = credentials(req);
    const outcome = await users.login(appKeyOf(req).app, username, password);
    if ('token' in outcome) return { token: outcome.token, error: '', errorMsg: '', timeout: 0 };
    if ('invalid' in outcome) return { token: '', error: 'invalid', errorMsg: INVALID, timeout: 0 };
    return {
      token: '',
      error: 'timeout',
      errorMsg: `too many failed logins: try again in ${outcome.lockedSeconds} s`,
      timeout: outcome.lockedSeconds,
    };
  });

  scope.post('/auth', user, async (req, reply) => {
    const { username, password } = credentials(req);
    const outcome = await users.login(appKeyOf(req).app, username, password);
    if ('token' in outcome) return { token: outcome.token, timeout: -1 };
    const timeout = 'invalid' in outcome ? -1 : Math.ceil(outcome.lockedSeconds / 60);
    return reply.code(401).send({ token: '', timeout });
  });

  scope.post('/user/changepassword', user, async (req) => {
    const b = objectBody(req);
    await users.changePassword(appKeyOf(req).app, field(b, 'token'), field(b, 'old'), field(b, 'new'));
    return {};
  });

  // Finding a user by id reads the user list (as list_users does): the admin routes' per-IP limit.
  scope.delete('/user/:userID', { ...on({ userDelete: true }), config: { rateLimitGroup: 'admin' } }, async (req) => {
    const { app, management } = appKeyOf(req);
    const { userID } = req.params as { userID: string };
    await users.delete(userID, management ? undefined : app.tenant_name);
    return {};
  });
}
