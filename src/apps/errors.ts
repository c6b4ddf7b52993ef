// The app routes' errors, in the originals' body {errorCode, errorMsg} (Darkstorm / Stupid Backend):
// the codes are the contract's (APPS-API.md), each with its status, created here only.

export class AppError extends Error {
  constructor(
    readonly statusCode: number,
    readonly errorCode: string,
    message: string,
    /** Which field was refused (Stupid Backend's `problem`). */
    readonly problem?: 'username' | 'email' | 'password',
  ) {
    super(message);
  }
}

export const noKey = () => new AppError(401, 'noKey', 'no API key: send X-API-Key or ?key=');
export const invalidKey = (why = 'invalid API key') => new AppError(401, 'invalidKey', why);
export const invalidBody = (why: string) => new AppError(400, 'invalidBody', why);
export const badRequest = (why: string) => new AppError(400, 'badRequest', why);
export const unauthorized = (why = 'invalid or expired token') => new AppError(401, 'unauthorized', why);
export const taken = (which: 'username' | 'email') => new AppError(401, 'taken', `${which} is taken`, which);
export const usernameDisallowed = (why: string) => new AppError(401, 'usernameDisallowed', why, 'username');
export const badPassword = (why: string) => new AppError(401, 'password', why, 'password');
export const badEmail = (why: string) => new AppError(400, 'badRequest', why, 'email');
export const tooMany = (why: string) => new AppError(429, 'tooMany', why);
export const notFound = (why: string) => new AppError(404, 'notFound', why);
