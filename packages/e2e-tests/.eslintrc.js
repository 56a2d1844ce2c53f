module.exports = require('@backstage/cli/config/eslint-factory')(__dirname, {
  rules: {
    // A private, test-only package: its helpers use devDependencies (playwright-core) and
    // locate the repository from __dirname, which is right here (it is never bundled).
    '@backstage/no-undeclared-imports': 'off',
    'no-restricted-syntax': 'off',
  },
});
