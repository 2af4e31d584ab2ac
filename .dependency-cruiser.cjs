// The layering rule (docs/architecture.md), checked by `npm run lint`: dependencies point one way,
//   cli → api (index, pull/, lock, inspect, verify, api/) → services (registry, transfer, cache, layout, lockfile,
//   convert) → core (reference, platform, manifest, digest, errors, util),
// with transfer above registry and cache, and no other import between services. No file imports itself through
// a circle.
const CORE = '^src/(reference|platform|manifest|util)/|^src/(digest|errors)[.]ts$';
const SERVICES = '^src/(registry|transfer|cache|layout|lockfile|convert|signature)/';
const API = '^src/(api|pull)/|^src/(index|lock|inspect|verify)[.]ts$';
const CLI = '^src/cli/';

/** A rule that `from` may not import `to`. */
const forbid = (name, comment, from, to) => ({
  name,
  comment,
  severity: 'error',
  from: { path: from },
  to: { path: to },
});

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'A circle of imports: the modules in it cannot be read, tested or changed one at a time.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    forbid(
      'core-is-the-bottom',
      'core modules (pure, no I/O of the pull) import nothing above them',
      CORE,
      `${SERVICES}|${API}|${CLI}`,
    ),
    forbid(
      'services-below-api',
      'registry, transfer, cache, layout, lockfile and convert know nothing of a pull',
      SERVICES,
      `${API}|${CLI}`,
    ),
    forbid('api-below-cli', 'the library never imports the command line', API, CLI),
    forbid(
      'registry-alone',
      'registry/ speaks HTTP and knows no cache, transfer or output',
      '^src/registry/',
      '^src/(transfer|cache|layout|lockfile|convert)/',
    ),
    forbid(
      'signature-alone',
      'signature/ checks signatures over bytes it is given and knows no network, cache or output',
      '^src/signature/',
      '^src/(registry|transfer|cache|layout|lockfile|convert)/',
    ),
    forbid(
      'cache-alone',
      'cache/ owns the cache layout and knows no network or output',
      '^src/cache/',
      '^src/(registry|transfer|layout|lockfile|convert)/',
    ),
    forbid(
      'layout-alone',
      'layout/ writes outputs from verified files and knows no network or cache',
      '^src/layout/',
      '^src/(registry|transfer|cache|lockfile|convert)/',
    ),
    forbid(
      'formats-alone',
      'lockfile/ and convert/ are formats over core types',
      '^src/(lockfile|convert)/',
      '^src/(registry|transfer|cache|layout)/',
    ),
    forbid(
      'transfer-below-pull',
      "transfer/ moves bytes into the cache; what to fetch is the pull's",
      '^src/transfer/',
      '^src/(layout|lockfile|convert)/',
    ),
    forbid(
      'vocabulary-alone',
      'api/ (the public types) imports nothing of the orchestration',
      '^src/api/',
      '^src/(pull/|lock[.]ts|inspect[.]ts|verify[.]ts|index[.]ts)',
    ),
    forbid(
      'pull-below-commands',
      'pull/ does not import the other commands or the index',
      '^src/pull/',
      '^src/(lock|inspect|verify|index)[.]ts$',
    ),
    forbid('core-order-errors', 'errors.ts is the very bottom', '^src/errors[.]ts$', '^src/'),
    forbid(
      'core-order-util',
      'util/ helps everyone and knows no domain',
      '^src/util/',
      '^src/(reference|platform|manifest|digest[.]ts)',
    ),
    forbid('core-order-platform', 'platform/ stands on errors alone', '^src/platform/', '^src/(reference|manifest)/'),
    forbid(
      'core-order-reference',
      'reference/ stands on digest and errors',
      '^src/reference/',
      '^src/(platform|manifest)/',
    ),
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^src/types/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
