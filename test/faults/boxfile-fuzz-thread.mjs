// Entry of the fuzzer's worker thread: worker threads do not inherit the test process's tsx
// loader, so it is registered here before the TypeScript loop is imported.
import {register} from 'tsx/esm/api';

register();
await import('./boxfile-fuzz-worker.ts');
