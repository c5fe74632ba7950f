// The oclif entry bin/run.js calls: @oclif/core from the bundle, the one copy the commands,
// help and hooks use too (bin/run.js importing it from node_modules would load it twice).
export {execute} from '@oclif/core';
