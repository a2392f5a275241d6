import { run } from './program.js';

// A reader that went away (`presence-admin stats | head -c 0`) loses the output, which
// is its choice, not a failure to report with a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') process.exitCode = 1;
  });
}

process.exitCode = await run(process.argv.slice(2));
