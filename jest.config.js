/** Unit tests sit beside the code (`*.spec.ts`); integration, end-to-end and browser tests in `test/`. */
const swc = {
  jsc: {
    parser: { syntax: 'typescript', decorators: true },
    transform: { legacyDecorator: true, decoratorMetadata: true },
    target: 'es2022',
  },
  module: { type: 'commonjs' },
  sourceMaps: 'inline',
};

module.exports = {
  rootDir: __dirname,
  testEnvironment: 'node',
  roots: ['<rootDir>/libs', '<rootDir>/apps', '<rootDir>/test'],
  testMatch: ['**/*.spec.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  transform: { '^.+\\.tsx?$': ['@swc/jest', swc], '^.+\\.js$': ['@swc/jest', { module: { type: 'commonjs' } }] },
  // These packages ship only ES modules, which this Node's Jest cannot require: compile them.
  transformIgnorePatterns: ['/node_modules/(?!(@nestjs/(bull-shared|bullmq)|content-disposition)/)'],
  moduleNameMapper: { '^@dispatch/(domain|db|queue|destinations|config|testing|ingest|telemetry)$': '<rootDir>/libs/$1/src' },
  testTimeout: 30_000,
  maxWorkers: 2,
};
