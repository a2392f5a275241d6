import type { PresenceErrorCode } from './types.js';

/**
 * The one error class prisma-presence throws on purpose. `code` says what kind of
 * failure it is; the message says what to do about it and never contains a password.
 */
export class PresenceError extends Error {
  override name = 'PresenceError';

  constructor(
    readonly code: PresenceErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(redactPasswords(message), options);
  }
}

/** What every call on a closed presence instance rejects with. */
export function closedError(): PresenceError {
  return new PresenceError('CLOSED', 'This presence instance is closed');
}

/** A message's last line (a driver's multi-line message ends with its reason). */
export function lastLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.trim().split('\n').at(-1) ?? message;
}

/**
 * Hides every password in `text`, in each form the `pg` driver reads one: the
 * password of `scheme://user:password@host` (up to the last `@`, as a URL parser splits
 * it, so a raw `@` in the password is hidden too, and so is the rest of a URL that
 * does not parse) and the value of `password=` / `sslpassword=` parameters. Errs
 * towards hiding too much.
 */
export function redactPasswords(text: string): string {
  return text
    .replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^\s"`<>:/]*:)[^\s"`<>]*@/gi, '$1***@')
    .replace(/((?:^|[?&;\s])(?:ssl)?password=)[^\s"`&#]*/gi, '$1***');
}

/** `message` up to the first line of a stack or span trace (`    at ...`, the schema engine's `   0: module::fn`). */
export function withoutTrace(message: string): string {
  const lines = message.split('\n');
  const start = lines.findIndex((line) => /^\s+(at |\d+: )\S/.test(line));
  return (start === -1 ? lines : lines.slice(0, start)).join('\n').trim();
}
