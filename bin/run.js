#!/usr/bin/env node
import {execute} from '@oclif/core';

// box pins its AWS SDK version in package-lock.json; the SDK's Node-version notice is for SDK
// maintainers' users, not ours, and would otherwise appear on every aws command's stderr.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

await execute({dir: import.meta.url});
