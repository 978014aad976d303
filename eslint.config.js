import js from '@eslint/js'
import globals from 'globals'
import tseslint from 'typescript-eslint'

/** Every file but src/cluster/ and the tests: client-node is reached through src/cluster/client-node.ts. */
const CLIENT_NODE = {name: '@kubernetes/client-node', message: 'Only src/cluster/ may import @kubernetes/client-node.'}
/** The CLI (src/) never imports the sandbox package statically: the runtime image does not have it. */
const SANDBOX = {
  group: ['@faultline/sandbox', '@faultline/sandbox/*'],
  message:
    'The CLI reaches the sandbox package only through src/runner/sandbox.ts, which imports it on demand (the runtime image has no sandbox).',
}
/** Workspace packages are imported by their names, never by a path into packages/. */
const BY_NAME = {
  regex: '(^|/)packages/',
  message: 'Import a workspace package by its name (@faultline/core/…), not by its path.',
}
const restrict = (patterns, paths = [CLIENT_NODE]) => ({'no-restricted-imports': ['error', {paths, patterns}]})

export default tseslint.config(
  // test/reference/ is third-party material kept verbatim (k6 scripts, a Node server), not our code.
  {
    ignores: [
      'dist/**',
      'packages/*/dist/**',
      'node_modules/**',
      'reports/**',
      '.chaos/**',
      'bench/out/**',
      '.scratch/**',
      'test/reference/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', {argsIgnorePattern: '^_', varsIgnorePattern: '^_'}],
      'no-restricted-imports': ['error', {paths: [CLIENT_NODE]}],
    },
  },
  {
    // Functions a reviewer can hold in mind: the sources meet these today and must keep meeting them.
    // Lines are prettier's at 120 columns; blank lines and comments are not counted.
    files: ['src/**/*.ts', 'packages/*/src/**/*.ts'],
    rules: {
      'max-lines-per-function': ['error', {max: 60, skipBlankLines: true, skipComments: true}],
      complexity: ['error', 40],
    },
  },
  {files: ['src/**'], rules: restrict([SANDBOX, BY_NAME])},
  {files: ['src/cluster/**'], rules: restrict([SANDBOX, BY_NAME], [])},
  // The arrows between the journal and its neighbours: runner → journal ← report. The reports read
  // only journals (so `chaos report` renders any old run), and the journal knows neither side.
  ...[
    {
      files: ['src/report/**'],
      banned: ['../runner/*', '../../runner/*'],
      message: 'Reports read the journal (src/journal/), never the runner.',
    },
    {
      files: ['src/journal/**'],
      banned: ['../runner/*', '../report/*', '../report/**'],
      message: 'The journal is the model both sides share: it imports neither the runner nor the reports.',
    },
    {
      files: ['src/runner/**'],
      banned: ['../report/*', '../report/**'],
      message: 'The runner returns the journal; the commands write the reports (src/cli/session.ts).',
    },
  ].map(({files, banned, message}) => ({files, rules: restrict([SANDBOX, BY_NAME, {group: banned, message}])})),
  // The packages: core depends on no package of ours, the sandbox on core only (by name). A relative
  // import that climbs out of a package's src/ (into the CLI's src/, say) is refused at every depth.
  ...['core', 'sandbox'].flatMap(pkg =>
    [1, 2, 3].map(depth => ({
      files: [`packages/${pkg}/src/${'*/'.repeat(depth - 1)}*.ts`],
      rules: restrict([
        {
          regex: `^(\\.\\./){${depth}}`,
          message: "A package imports only itself and, by name, the packages it depends on (never the CLI's src/).",
        },
        ...(pkg === 'core'
          ? [
              {
                group: ['@faultline/*'],
                message: '@faultline/core is the model the others share: it depends on no package of ours.',
              },
            ]
          : []),
      ]),
    })),
  ),
  {
    files: ['test/**', 'packages/*/test/**'],
    rules: {'no-restricted-imports': 'off'},
  },
  {
    // Plain JavaScript that runs in Node: the bin scripts, configs, test fixtures such as the fake k6.
    files: ['bin/**', '*.js', '**/*.mjs'],
    languageOptions: {globals: globals.node},
  },
)
