/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }] },
  testTimeout: 30000,
  maxWorkers: 2,
  setupFilesAfterEnv: ['<rootDir>/test/helpers/fast-check-size.ts'],
};
