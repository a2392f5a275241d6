/** The engines a test run covers: both by default, or PRESENCE_TEST_ENGINES=sqlite (comma-separated). */
export type Engine = 'sqlite' | 'postgresql';

export function testEngines(): Engine[] {
  const wanted = (process.env.PRESENCE_TEST_ENGINES ?? 'sqlite,postgresql').split(',').map((name) => name.trim());
  return (['sqlite', 'postgresql'] as const).filter((engine) => wanted.includes(engine));
}
