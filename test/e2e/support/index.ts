/** e2e test helpers: test bed access (testbed/clients.ts), Spiderpool objects (testbed/spiderpool/objects.ts), a namespace per test file. */
export * from '../../../testbed/clients';
export * from '../../../testbed/spiderpool/objects';
export * from './namespace';
