// Tests are compiled by tsc with the rest of the tree and run from dist/ (workers need plain JS files).
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/dist'],
  testMatch: ['**/*.test.js'],
  testTimeout: 120000,
  maxWorkers: 1,
  verbose: true,
};
