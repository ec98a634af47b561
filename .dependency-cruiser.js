// The layering of NetStar.ts as dependency-cruiser rules, checked by test/arch/deps.test.ts (so by CI):
//   native/  <-  net/  <-  reactor/  <-  index.ts (the package entry)  <-  apps/
// net/ (wire formats, queue pairs, stack, flow layer, the L3/conntrack libraries) never imports reactor/; an app
// imports the framework through the package entry index.ts — which re-exports the app contract (reactor/app.ts),
// ShardContext (reactor/context.ts) and the libraries — or a library folder's index file, never reactor/,
// native/ or a library's inner files (no exception for reactor/app.ts or context.ts: their types come through
// index.ts), and never another app; product code never imports test/. Type-only imports count: a type import
// of an internal is the first step to using it. Run by hand: npx depcruise --config .dependency-cruiser.js .
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'net-not-reactor',
      severity: 'error',
      comment: 'net/ is below reactor/: what both need lives in net/ (net/app.ts, net/tasks.ts, net/stats.ts), re-exported by reactor/.',
      from: { path: '^net/' },
      to: { path: '^reactor/' },
    },
    {
      name: 'native-is-the-bottom',
      severity: 'error',
      comment: 'native/ (the addon binding) imports nothing of the TS layers above it.',
      from: { path: '^native/' },
      to: { path: '^(net|reactor|apps|cli|bench|tools|mos|mica)/|^index\\.ts$' },
    },
    {
      name: 'apps-only-public-surface',
      severity: 'error',
      comment:
        'An app imports the framework through the package entry index.ts (ShardContext, the app contract, the '
        + 'libraries as `flow`, `wire`, `stack`, `l3`, `conntrack`) or a library folder\'s index file (net/*/index.ts, '
        + 'mos/, mica/): never reactor/, native/, cli/, tools/ or a library\'s inner files. apps/demo is a set of '
        + 'scripts that drive the CLI, not an app: exempt.',
      from: { path: '^apps/', pathNot: '^apps/demo/' },
      to: { path: '^(reactor|native|net|mos|mica|cli|bench|tools)/', pathNot: '^(net|mos|mica)/(index|[^/]+/index|[^/]+/[^/]+/index)\\.ts$' },
    },
    {
      name: 'apps-not-other-apps',
      severity: 'error',
      comment: 'One app is not a library for another: what two apps share moves under net/ (e.g. net/l3, net/conntrack).',
      from: { path: '^apps/([^/]+)/', pathNot: '^apps/demo/' },
      to: { path: '^apps/', pathNot: '^apps/$1/' },
    },
    {
      name: 'product-not-test',
      severity: 'error',
      comment: 'Product code (apps/demo and bench included) never imports test code: what they share with tests is in tools/.',
      from: { pathNot: '^test/' },
      to: { path: '^test/' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'No import cycle (reactor/app.ts <-> reactor/shard.ts was one); type-only imports included.',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist|build|dist-base)/' },
    includeOnly: '^(native|net|reactor|apps|cli|bench|tools|mos|mica|test)/|^index\\.ts$',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    moduleSystems: ['cjs', 'es6'],
  },
};
