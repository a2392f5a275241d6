// Where the development scripts find the Prisma schema folders.
export const DIALECTS = ['sqlite', 'postgresql'] as const;
export type ScriptDialect = (typeof DIALECTS)[number];

/** The models every provider shares: the single source of truth. */
export const MODELS_SOURCE = 'prisma/models.prisma';

export function schemaFolder(dialect: ScriptDialect): string {
  return `prisma/${dialect}`;
}

export function modelsCopy(dialect: ScriptDialect): string {
  return `prisma/${dialect}/models.prisma`;
}

/**
 * The shared models as one provider takes them. On SQLite the autoincrement ids, and the
 * `roomId` columns that hold them, stay `Int`: SQLite's INTEGER key is 64-bit already,
 * and Prisma makes a SQLite `BigInt` autoincrement key a plain BIGINT column that does
 * not number new rows by itself (prisma/orm#13178).
 */
export function modelsFor(dialect: ScriptDialect, models: string): string {
  if (dialect !== 'sqlite') return models;
  return models.replace(/^(\s+(?:id|roomId)\s+)BigInt( *)(.*)$/gm, (_, field: string, gap: string, rest: string) =>
    rest ? `${field}Int${gap}   ${rest}` : `${field}Int`,
  );
}
