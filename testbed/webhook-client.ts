/**
 * kube-apiserver's identity towards admission webhooks: an AdmissionConfiguration (--admission-control-config-file)
 * whose ValidatingAdmissionWebhook and MutatingAdmissionWebhook plugins point at a kubeconfig naming the client
 * certificate to present (pki.ts: apiserver-webhook-client.crt, signed by the webhook client CA). The plugin
 * configuration's kind is WebhookAdmissionConfiguration (apiserver.config.k8s.io/v1): kube-apiserver 1.34 refuses
 * to start with `WebhookAdmission`, the name some reference pages give.
 *
 * kube-apiserver picks the kubeconfig user by the webhook's host: the exact `host:port`, then `*.<domain>`
 * wildcards, then `*`. Test-bed guards listen on 127.0.0.1 at ports chosen at random, so the user here is `*`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Pki } from './pki';
import { writeFileAtomic } from './util';

/** Writes the AdmissionConfiguration and its kubeconfig into `stateDir`; returns the kube-apiserver flag. */
export function webhookClientFlag(stateDir: string, pki: Pki): string {
  const kubeconfig = path.join(stateDir, 'webhook-client.kubeconfig');
  writeFileAtomic(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      users: [
        {
          name: '*',
          user: { 'client-certificate': pki.apiserverWebhookClientCert, 'client-key': pki.apiserverWebhookClientKey },
        },
      ],
    }) + '\n',
    0o600,
  );
  const plugin = (name: string) => ({
    name,
    configuration: {
      apiVersion: 'apiserver.config.k8s.io/v1',
      kind: 'WebhookAdmissionConfiguration',
      kubeConfigFile: kubeconfig,
    },
  });
  const config = path.join(stateDir, 'admission-config.yaml');
  fs.writeFileSync(
    config,
    JSON.stringify({
      apiVersion: 'apiserver.config.k8s.io/v1',
      kind: 'AdmissionConfiguration',
      plugins: [plugin('ValidatingAdmissionWebhook'), plugin('MutatingAdmissionWebhook')],
    }) + '\n',
  );
  return `--admission-control-config-file=${config}`;
}
