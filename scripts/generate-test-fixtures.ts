// Generates the application-schema fixture clients the tests import, so that
// `npm run typecheck` works before the test suite has ever run.
import { generateAppClient } from '../tests/support/appClient.ts';

await generateAppClient();
