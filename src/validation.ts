import { PresenceError } from './errors.js';

/** Longest room or channel name accepted (the original's column limit). */
export const MAX_NAME_LENGTH = 255;

/** Longest duration accepted, in seconds (100 years): a clock minus it is still a date both engines store. */
export const MAX_DURATION_SECONDS = 3_155_760_000;

/** Longest delay a Node timer honours (2^31 - 1 ms), in seconds: a longer one would fire at once. */
export const MAX_TIMER_SECONDS = 2_147_483;

/** Throws unless `value` is a non-empty string of at most 255 characters without a NUL byte. */
export function assertChannelName(value: unknown, what: string): asserts value is string {
  if (typeof value !== 'string') {
    throw invalid(`${what} must be a string, got ${describe(value)}`);
  }
  if (value.length === 0) {
    throw invalid(`${what} must not be empty`);
  }
  if (value.length > MAX_NAME_LENGTH) {
    throw invalid(`${what} must be at most ${MAX_NAME_LENGTH} characters, got ${value.length}`);
  }
  // PostgreSQL cannot store one in text; SQLite refuses it too, so that both engines take the same names.
  if (value.includes('\0')) throw invalid(`${what} must not contain a NUL byte`);
}

/** Throws unless `value` is an array of valid room names. */
export function assertRoomNames(value: unknown): asserts value is string[] {
  if (!Array.isArray(value)) throw invalid(`room names must be given as an array, got ${describe(value)}`);
  value.forEach((name) => assertChannelName(name, 'room name'));
}

/** User ids are stored as strings; `null` and `undefined` mean anonymous. */
export function normalizeUserId(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string' && value.length > 0 && value.length <= MAX_NAME_LENGTH && !value.includes('\0')) return value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  throw invalid(
    `userId must be a non-empty string of at most ${MAX_NAME_LENGTH} characters without NUL bytes, an integer, null or undefined, got ${describe(value)}`,
  );
}

/** Checks a duration in seconds given through the API: a positive number up to `max`. */
export function parseSeconds(value: unknown, source: string, max = MAX_DURATION_SECONDS): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw invalid(`${source} must be a positive number of seconds, got ${describe(value)}`);
  }
  if (value > max) {
    throw invalid(`${source} must be at most ${max} seconds${max === MAX_DURATION_SECONDS ? ' (100 years)' : ''}, got ${value}`);
  }
  return value;
}

/** Parses a duration in seconds written as text (environment variable, command-line flag). */
export function parseSecondsText(text: string, source: string): number {
  const seconds = text.trim() === '' ? Number.NaN : Number(text);
  if (!Number.isFinite(seconds) || seconds <= 0) {
    throw invalid(`${source} must be a positive number of seconds, got ${describe(text)}`);
  }
  return parseSeconds(seconds, source);
}

function invalid(message: string): PresenceError {
  return new PresenceError('INVALID_ARGUMENT', message);
}

function describe(value: unknown): string {
  if (typeof value === 'string') return value.length > 40 ? `a string of ${value.length} characters` : JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  return Array.isArray(value) ? 'an array' : `a ${typeof value}`;
}

/** Checks metadata (a plain JSON object within `maxBytes` once serialized) and returns its JSON. */
export function serializeMetadata(value: unknown, maxBytes: number): string {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || Object.getPrototypeOf(value) !== Object.prototype) {
    throw invalid(`metadata must be a plain object, got ${describe(value)}`);
  }
  let json: string;
  try {
    json = JSON.stringify(value);
  } catch (error) {
    throw invalid(`metadata must be serializable as JSON: ${(error as Error).message}`);
  }
  const bytes = Buffer.byteLength(json, 'utf8');
  if (bytes > maxBytes) throw invalid(`metadata must be at most ${maxBytes} bytes of JSON, got ${bytes}`);
  return json;
}
