import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  {ignores: ['dist/**', 'node_modules/**', 'reports/**', '.chaos/**', 'bench/out/**', '.scratch/**']},
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
    files: ['src/cluster/**', 'test/**'],
    rules: {'no-restricted-imports': 'off'},
  },
  {
    files: ['bin/**', '*.js'],
    languageOptions: {globals: {process: 'readonly', console: 'readonly'}},
  },
)
