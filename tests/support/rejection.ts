import { expect } from 'vitest';
import { PresenceError } from '../../src/index.ts';

/** The PresenceError a promise rejects with (the test fails if it resolves or rejects with anything else). */
export async function rejection(promise: Promise<unknown>): Promise<PresenceError> {
  const error = await promise.then(
    () => undefined,
    (failure: unknown) => failure,
  );
  expect(error).toBeInstanceOf(PresenceError);
  return error as PresenceError;
}
