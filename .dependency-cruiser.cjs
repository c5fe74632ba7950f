// Layer rules for src/ (see docs/architecture.md): an import may point sideways inside its
// layer or down, never up, and no module may import itself back through a cycle.
//   commands → services → builder / providers / provisioners / synced-folders → boxfile / boxes / communicators → core
const layers = [
  {name: 'core', path: '^src/core/'},
  {name: 'boxfile-boxes-communicators', path: '^src/(boxfile|boxes|communicators)/'},
  {name: 'builder-providers-provisioners', path: '^src/(builder|providers|provisioners|synced-folders)/'},
  {name: 'services', path: '^src/services/'},
  {name: 'commands', path: '^src/(commands/|hooks/|help\\.ts$)'},
];

const upward = layers.slice(0, -1).map((layer, index) => ({
  name: `no-upward-from-${layer.name}`,
  comment: `${layer.name} may import only its own layer and the ones below it.`,
  severity: 'error',
  from: {path: layer.path},
  to: {path: layers.slice(index + 1).map((above) => above.path)},
}));

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    ...upward,
    {
      name: 'no-circular',
      comment: 'A cycle ties modules together so that neither can move or load on its own.',
      severity: 'error',
      from: {path: '^src/'},
      to: {circular: true, viaOnly: {dependencyTypesNot: ['type-only']}},
    },
    {
      name: 'no-cloud-sdk-above-providers',
      comment: 'services/ holds user operations only (and commands/ less): EC2/S3 calls live in providers/aws/ (see docs/architecture.md).',
      severity: 'error',
      from: {path: '^src/(services|commands)/'},
      to: {path: 'node_modules/@aws-sdk/'},
    },
    {
      name: 'no-test-code-in-src',
      comment: 'Test seams live in test/ and are injected from there (see docs/architecture.md).',
      severity: 'error',
      from: {path: '^src/'},
      to: {path: '^(test|bench)/'},
    },
  ],
  options: {
    // src/, and the cloud SDK's packages so that no-cloud-sdk-above-providers sees imports of them.
    includeOnly: ['^src/', 'node_modules/@aws-sdk/'],
    doNotFollow: {path: 'node_modules'},
    // Type-only imports count: a type that a lower layer needs belongs in that layer.
    tsPreCompilationDeps: true,
    tsConfig: {fileName: 'tsconfig.json'},
    enhancedResolveOptions: {extensions: ['.ts', '.js'], exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default']},
    reporterOptions: {text: {highlightFocused: true}},
  },
};
