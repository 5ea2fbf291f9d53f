// client-node 1.x and its dependencies are ESM-only; Jest's CommonJS runtime on Node 20 cannot require() them,
// so ts-jest transpiles them too (about 10 s once, then cached).
const esmOnly = ['@kubernetes/client-node', 'openid-client', 'oauth4webapi', 'jose'];
const transform = { '^.+\\.[tj]sx?$': ['ts-jest', { tsconfig: 'tsconfig.jest.json' }] };
const transformIgnorePatterns = [`/node_modules/(?!(${esmOnly.join('|')})/)`];

/** @type {import('jest').Config} */
module.exports = {
  // e2e files register cluster-wide webhook configurations, so they must not run side by side; unit tests are
  // quick enough that one worker costs little, and it leaves the second core to the kube-apiserver.
  maxWorkers: 1,
  reporters: ['default', '<rootDir>/test/summary-reporter.js'],
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      roots: ['<rootDir>/test/unit'],
      transform,
      transformIgnorePatterns,
    },
    {
      // e2e tests share one real kube-apiserver + etcd started by globalSetup (testbed).
      displayName: 'e2e',
      testEnvironment: 'node',
      roots: ['<rootDir>/test/e2e'],
      transform,
      transformIgnorePatterns,
      globalSetup: '<rootDir>/testbed/jest-global-setup.ts',
      globalTeardown: '<rootDir>/testbed/jest-global-teardown.ts',
      setupFilesAfterEnv: ['<rootDir>/test/e2e/setup-timeout.ts'],
    },
  ],
};
