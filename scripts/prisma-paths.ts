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
