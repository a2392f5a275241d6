// Child process for the race tests: opens a transaction on the test database, runs the
// statements in HOLD_STATEMENTS, prints "ready", and commits when its stdin closes.
// Another process is needed because better-sqlite3 waits for locks synchronously.
import Database from 'better-sqlite3';
import pg from 'pg';

const url = process.env.HOLD_URL!;
const statements = JSON.parse(process.env.HOLD_STATEMENTS!) as string[];
const released = new Promise<void>((resolve) => {
  process.stdin.on('data', () => {});
  process.stdin.on('end', () => resolve());
});

if (url.startsWith('file:')) {
  const db = new Database(url.slice('file:'.length), { timeout: 5000 });
  db.exec('BEGIN IMMEDIATE');
  for (const statement of statements) db.exec(statement);
  console.log('ready');
  await released;
  db.exec('COMMIT');
  db.close();
} else {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query('BEGIN');
  for (const statement of statements) await client.query(statement);
  console.log('ready');
  await released;
  await client.query('COMMIT');
  await client.end();
}
console.log('committed');
