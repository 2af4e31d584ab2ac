// ESLint: typescript-eslint's type-checked rules over src and test, and the size limits the architecture asks for
// (no source file over 400 lines, no function of 60 lines or more). Formatting is Prettier's job, layering is
// dependency-cruiser's (.dependency-cruiser.cjs).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'test/bench/*.mjs', 'bin/', '*.config.*', '.dependency-cruiser.cjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { project: './tsconfig.test.json', tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // `const { dropped, ...kept } = object` is how a copy leaves fields out.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true }],
    },
  },
  {
    files: ['src/**/*.ts'],
    rules: {
      'max-lines': ['error', { max: 400 }],
      'max-lines-per-function': ['error', { max: 59 }],
    },
  },
  {
    // Tests read JSON the tools under test wrote (manifest.json, events) and assert on its fields: typing every
    // such read would add casts, not safety.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      // Terminal output is asserted with its escape sequences and its runs of spaces, as printed.
      'no-control-regex': 'off',
      'no-regex-spaces': 'off',
      // Stubs stand in for async functions without awaiting anything; execFile's callbacks reject with its error.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/prefer-promise-reject-errors': 'off',
    },
  },
);
