import { setTimeout as sleep } from 'node:timers/promises';
import { closedError } from '../errors.js';
import type { Sql } from './sql.js';
import type { Connection } from './connections.js';
import { isTransient, translateError } from './errors.js';
import type { Dialect } from './url.js';
import type { TableNames } from '../types.js';

/** A statement runner bound to one transaction. */
export interface Transaction {
  query<T>(statement: Sql): Promise<T[]>;
  execute(statement: Sql): Promise<number>;
}

const MAX_ATTEMPTS = 6;

/**
 * Runs prisma-presence's statements: renders them for the dialect, retries the
 * transient failures of concurrent writers, and turns the failures a user can act on
 * into PresenceErrors.
 */
export class Database {
  private closed = false;
  private readonly rename: (text: string) => string;

  constructor(
    private readonly connection: Connection,
    readonly dialect: Dialect,
    tables: TableNames = {},
  ) {
    this.rename = renamer(tables);
  }

  /** Refuses further statements and closes the connection (an application's client stays open). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.connection.close();
  }

  /** Runs one statement and returns its rows. */
  query<T>(statement: Sql): Promise<T[]> {
    const { text, values } = this.render(statement);
    return this.retrying(() => this.connection.query<T>(text, values));
  }

  /** Runs one statement and returns how many rows it changed. */
  execute(statement: Sql): Promise<number> {
    const { text, values } = this.render(statement);
    return this.retrying(() => this.connection.execute(text, values));
  }

  /** Runs `work` in one transaction, retried as a whole on serialization failures. */
  transaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T> {
    return this.retrying(() =>
      this.connection.transaction((tx) =>
        work({
          query: <R>(statement: Sql) => {
            const { text, values } = this.render(statement);
            return tx.query<R>(text, values);
          },
          execute: (statement: Sql) => {
            const { text, values } = this.render(statement);
            return tx.execute(text, values);
          },
        }),
      ),
    );
  }

  /** The statement's text for the dialect, with the application's table names. */
  private render(statement: Sql): { text: string; values: unknown[] } {
    const { text, values } = statement.render(this.dialect);
    return { text: this.rename(text), values };
  }

  private async retrying<T>(attempt: () => Promise<T>): Promise<T> {
    if (this.closed) throw closedError();
    for (let attempts = 1; ; attempts++) {
      try {
        return await attempt();
      } catch (error) {
        if (attempts >= MAX_ATTEMPTS || !isTransient(error)) throw translateError(error);
        await sleep(backoff(attempts));
      }
    }
  }
}

export const TABLE_MODELS = ['Room', 'Presence', 'PresenceServer', 'PresenceEvent'] as const;

/** Rewrites the shipped table names in statement text (every statement quotes them: `"Room"`). */
export function renamer(tables: TableNames): (text: string) => string {
  const qualify = (name: string) => (tables.schema ? `"${tables.schema}"."${name}"` : `"${name}"`);
  const renamed = new Map(TABLE_MODELS.map((model) => [`"${model}"`, qualify(tables[model] ?? model)]));
  if ([...renamed].every(([from, to]) => from === to)) return (text) => text;
  const shipped = new RegExp([...renamed.keys()].join('|'), 'g');
  return (text) => text.replace(shipped, (quoted) => renamed.get(quoted)!);
}

/** Jittered exponential backoff: ~10, 20, 40, 80, 160 ms. */
function backoff(attempts: number): number {
  return 5 * 2 ** attempts * (0.5 + Math.random());
}
