/**
 * The only Kubernetes I/O of the certs module: one Secret (GET / create-if-absent / PUT with resourceVersion) and
 * two webhook configurations (GET / conditional JSON Patch of caBundle). Every error names the object involved.
 */
import { AdmissionregistrationV1Api, CoreV1Api } from '@kubernetes/client-node';
import type { KubeConfig, V1Secret } from '@kubernetes/client-node';
import { isConflict, isInvalid, isNotFound, statusCodeOf } from '../lib/api-errors';
import type { WebhookEntry } from './plan';

export type ConfigKind = 'validating' | 'mutating';

export interface WebhookConfigView {
  kind: ConfigKind;
  name: string;
  resourceVersion: string;
  webhooks: WebhookEntry[];
}

/** Wraps an API error with the object it concerns, keeping the HTTP code. */
export class CertsApiError extends Error {
  constructor(
    readonly operation: string,
    readonly object: string,
    readonly code: number | undefined,
    cause: unknown,
  ) {
    super(`${operation} ${object} failed${code !== undefined ? ` (HTTP ${code})` : ''}: ${errText(cause)}`, { cause });
    this.name = 'CertsApiError';
  }
}

function errText(err: unknown): string {
  if (err instanceof Error) {
    const body = (err as { body?: unknown }).body;
    if (typeof body === 'string' && body.length > 0) {
      try {
        const parsed = JSON.parse(body) as { message?: string };
        if (parsed.message) return parsed.message;
      } catch {
        /* not JSON */
      }
      return body.slice(0, 300);
    }
    return err.message.split('\n')[0] ?? err.message;
  }
  return String(err);
}

export class CertsKubeClient {
  private readonly core: CoreV1Api;
  private readonly admission: AdmissionregistrationV1Api;

  constructor(kc: KubeConfig) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.admission = kc.makeApiClient(AdmissionregistrationV1Api);
  }

  /** undefined when absent. */
  async readSecret(namespace: string, name: string): Promise<V1Secret | undefined> {
    try {
      return await this.core.readNamespacedSecret({ namespace, name });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw new CertsApiError('get', `secret ${namespace}/${name}`, statusCodeOf(err), err);
    }
  }

  /** false when it already exists (409): somebody else won, re-read and use theirs. */
  async createSecret(body: V1Secret): Promise<boolean> {
    const namespace = body.metadata?.namespace ?? '';
    try {
      await this.core.createNamespacedSecret({ namespace, body });
      return true;
    } catch (err) {
      if (isConflict(err)) return false;
      throw new CertsApiError('create', `secret ${namespace}/${body.metadata?.name}`, statusCodeOf(err), err);
    }
  }

  /** PUT with the body's resourceVersion; false on 409 (stale: re-read). */
  async replaceSecret(body: V1Secret): Promise<boolean> {
    const namespace = body.metadata?.namespace ?? '';
    const name = body.metadata?.name ?? '';
    try {
      await this.core.replaceNamespacedSecret({ namespace, name, body });
      return true;
    } catch (err) {
      if (isConflict(err)) return false;
      throw new CertsApiError('update', `secret ${namespace}/${name}`, statusCodeOf(err), err);
    }
  }

  /** undefined when absent. */
  async readWebhookConfig(kind: ConfigKind, name: string): Promise<WebhookConfigView | undefined> {
    try {
      const obj =
        kind === 'validating'
          ? await this.admission.readValidatingWebhookConfiguration({ name })
          : await this.admission.readMutatingWebhookConfiguration({ name });
      return {
        kind,
        name,
        resourceVersion: obj.metadata?.resourceVersion ?? '',
        webhooks: (obj.webhooks ?? []).map((w) => ({ name: w.name, caBundle: w.clientConfig?.caBundle })),
      };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw new CertsApiError('get', `${kind}webhookconfiguration ${name}`, statusCodeOf(err), err);
    }
  }

  /**
   * Applies a JSON Patch (application/json-patch+json, client-node's default) whose first op tests the
   * resourceVersion. false when the object changed meanwhile (a failed test op is HTTP 422, verified against
   * kube-apiserver 1.34; 409 handled too) or vanished (404).
   */
  async patchWebhookConfig(kind: ConfigKind, name: string, ops: Array<Record<string, unknown>>): Promise<boolean> {
    try {
      if (kind === 'validating') await this.admission.patchValidatingWebhookConfiguration({ name, body: ops });
      else await this.admission.patchMutatingWebhookConfiguration({ name, body: ops });
      return true;
    } catch (err) {
      if (isConflict(err) || isInvalid(err) || isNotFound(err)) return false;
      throw new CertsApiError('patch', `${kind}webhookconfiguration ${name}`, statusCodeOf(err), err);
    }
  }
}
