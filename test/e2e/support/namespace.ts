import { createTestNamespace, deleteTestNamespace } from '../../../testbed/clients';

/**
 * Registers beforeAll/afterAll hooks creating/deleting a namespace for the current test file; `.name` is valid
 * inside tests. Set SPG_E2E_KEEP_NAMESPACES=1 to keep them for debugging.
 */
export function useTestNamespace(prefix: string): { readonly name: string } {
  const holder = { name: '' };
  beforeAll(async () => {
    holder.name = await createTestNamespace(prefix);
  });
  afterAll(async () => {
    if (holder.name && process.env.SPG_E2E_KEEP_NAMESPACES !== '1') await deleteTestNamespace(holder.name);
  });
  return holder;
}
