// Migrates one database for the benchmark in a process of its own: Prisma's schema engine
// (WASM) then never weighs on the coordinator or on a side's process. Forked by
// scripts/bench.ts with the database URL; replies with its peak RSS.
import { migrate } from '../src/index.ts';
import { peakRssBytes } from './bench-workload.ts';

const databaseUrl = process.argv[2];
if (!databaseUrl || !process.send) throw new Error('usage: forked by scripts/bench.ts with a database URL');
await migrate({ databaseUrl });
process.send({ kind: 'closed', peakRssBytes: peakRssBytes() }, () => process.disconnect());
