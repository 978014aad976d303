import js from '@eslint/js'
import globals from 'globals'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  // test/reference/ is third-party material kept verbatim (k6 scripts, a Node server), not our code.
  {ignores: ['dist/**', 'node_modules/**', 'reports/**', '.chaos/**', 'bench/out/**', '.scratch/**', 'test/reference/**']},
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', {argsIgnorePattern: '^_', varsIgnorePattern: '^_'}],
      'no-restricted-imports': ['error', {
        paths: [{name: '@kubernetes/client-node', message: 'Only src/cluster/ may import @kubernetes/client-node.'}],
      }],
    },
  },
  {
    // Functions a reviewer can hold in mind: the sources meet these today and must keep meeting them.
    files: ['src/**/*.ts'],
    rules: {
      'max-lines-per-function': ['error', {max: 60, skipBlankLines: true, skipComments: true}],
      complexity: ['error', 40],
    },
  },
  {
    files: ['src/cluster/**', 'test/**'],
    rules: {'no-restricted-imports': 'off'},
  },
  // The arrows between the journal and its neighbours: runner → journal ← report. The reports read
  // only journals (so `chaos report` renders any old run), and the journal knows neither side.
  ...[
    {files: ['src/report/**'], banned: ['../runner/*', '../../runner/*'], message: 'Reports read the journal (src/journal/), never the runner.'},
    {files: ['src/journal/**'], banned: ['../runner/*', '../report/*', '../report/**'], message: 'The journal is the model both sides share: it imports neither the runner nor the reports.'},
    {files: ['src/runner/**'], banned: ['../report/*', '../report/**'], message: 'The runner returns the journal; the commands write the reports (src/cli/session.ts).'},
  ].map(({files, banned, message}) => ({
    files,
    rules: {'no-restricted-imports': ['error', {
      paths: [{name: '@kubernetes/client-node', message: 'Only src/cluster/ may import @kubernetes/client-node.'}],
      patterns: [{group: banned, message}],
    }]},
  })),
  {
    // Plain JavaScript that runs in Node: the bin scripts, configs, test fixtures such as the fake k6.
    files: ['bin/**', '*.js', '**/*.mjs'],
    languageOptions: {globals: globals.node},
  },
)
