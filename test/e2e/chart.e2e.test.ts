/**
 * The Helm chart against the real API server: rendered objects are accepted (the Deployment and the helm-test Pod
 * by server-side dry run, everything else for real), the webhook configurations are exactly docs/rules.md#what-is-intercepted, and the
 * RBAC grants exactly the reviewed list — checked both on the rendered rules and by SubjectAccessReview.
 */
import * as k8s from '@kubernetes/client-node';
import { adminClients, randomSuffix, useTestNamespace } from './support';
import { applyObjects, findObject, renderChart, renderError } from './support/chart';
import type { Rendered } from './support/chart';

const ns = useTestNamespace('chart');
const admin = adminClients();
const DRY_RUN = new Set(['Deployment', 'Pod', 'Job']); // hooks and workloads: checked by the API server, not run

type Rule = { apiGroups?: string[]; resources?: string[]; resourceNames?: string[]; verbs: string[] };
/** One line per (group, resource, names): "group/resource[names]: verbs" — order-insensitive comparison. */
function flatten(rules: Rule[]): string[] {
  const out: string[] = [];
  for (const r of rules) {
    for (const g of r.apiGroups ?? ['']) {
      for (const res of r.resources ?? []) {
        const names = r.resourceNames ? `[${[...r.resourceNames].sort().join(',')}]` : '';
        out.push(`${g || 'core'}/${res}${names}: ${[...r.verbs].sort().join(',')}`);
      }
    }
  }
  return out.sort();
}

describe('helm chart on the real API server', () => {
  jest.setTimeout(600_000); // first use may build helm with `go install`

  test('defaults (selfManaged): every object is accepted; webhooks are exactly docs/rules.md#what-is-intercepted', async () => {
    const full = `guard-${randomSuffix()}`;
    const objs = await renderChart('g', ns.name, { fullnameOverride: full });
    expect(objs.map((o) => o.kind).sort()).toEqual(
      [
        ...[
          'ClusterRole',
          'ClusterRoleBinding',
          'Deployment',
          'MutatingWebhookConfiguration',
          'PodDisruptionBudget',
          'Role',
          'RoleBinding',
          'Service',
          'ServiceAccount',
          'ValidatingWebhookConfiguration',
        ],
        'Pod', // the `helm test` hook
        ...['ServiceAccount', 'Role', 'RoleBinding', 'Job'], // the pre-delete uninstall drain hook
      ].sort(),
    );
    const { cleanup } = await applyObjects(admin.objects, objs, DRY_RUN);
    try {
      const vwc = await admin.admission.readValidatingWebhookConfiguration({ name: full });
      const mwc = await admin.admission.readMutatingWebhookConfiguration({ name: full });
      const shape = (w: k8s.V1ValidatingWebhook | k8s.V1MutatingWebhook) => ({
        path: w.clientConfig.service?.path,
        service: `${w.clientConfig.service?.namespace}/${w.clientConfig.service?.name}:${w.clientConfig.service?.port}`,
        rules: w.rules?.map((r) => ({
          groups: r.apiGroups,
          versions: r.apiVersions,
          ops: r.operations,
          resources: r.resources,
        })),
        sideEffects: w.sideEffects,
        reviews: w.admissionReviewVersions,
        failurePolicy: w.failurePolicy,
        timeoutSeconds: w.timeoutSeconds,
        caBundle: w.clientConfig.caBundle,
      });
      const svc = `${ns.name}/${full}:443`;
      const common = {
        service: svc,
        sideEffects: 'None',
        reviews: ['v1'],
        failurePolicy: 'Ignore',
        timeoutSeconds: 5,
        caBundle: undefined,
      };
      const sp = { groups: ['spiderpool.spidernet.io'], versions: ['v2beta1'] };
      expect(vwc.webhooks?.map(shape)).toEqual([
        {
          ...common,
          path: '/validate/spiderippools',
          rules: [{ ...sp, ops: ['UPDATE'], resources: ['spiderippools/status'] }],
        },
        {
          ...common,
          path: '/validate/spiderendpoints',
          rules: [{ ...sp, ops: ['CREATE', 'UPDATE', 'DELETE'], resources: ['spiderendpoints'] }],
        },
      ]);
      expect(mwc.webhooks?.map(shape)).toEqual([
        {
          ...common,
          path: '/mutate/spiderippools',
          rules: [{ ...sp, ops: ['UPDATE'], resources: ['spiderippools/status'] }],
        },
      ]);
      // the API server compiled the CEL matchCondition exempting the guard's own endpoints
      expect(vwc.webhooks?.[1]?.matchConditions).toEqual([
        {
          name: 'exempt-guard-own-endpoints',
          expression: `!(request.namespace == "${ns.name}" && request.name.startsWith("${full}-"))`,
        },
      ]);

      // Deployment: security settings survived server-side defaulting/validation
      const dep = findObject(objs, 'Deployment') as unknown as k8s.V1Deployment;
      const c = dep.spec?.template.spec?.containers[0];
      expect(dep.spec?.replicas).toBe(2);
      expect(c?.securityContext).toMatchObject({
        readOnlyRootFilesystem: true,
        runAsNonRoot: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
        seccompProfile: { type: 'RuntimeDefault' },
      });
      // probes on the plain-HTTP listener (the webhook port may demand client certificates); open on the pod IP
      expect(c?.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'metrics', scheme: 'HTTP' });
      expect(c?.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'metrics', scheme: 'HTTP' });
      expect(c?.args).toEqual(expect.arrayContaining(['--metrics-port=9090', '--metrics-host=0.0.0.0']));
      expect(c?.env?.map((e) => `${e.name}=${e.valueFrom?.fieldRef?.fieldPath ?? e.value}`)).toEqual(
        expect.arrayContaining(['POD_NAMESPACE=metadata.namespace', 'POD_NAME=metadata.name']),
      );
      expect(c?.args).toEqual(
        expect.arrayContaining([
          'serve',
          `--tls-secret=${full}-tls`,
          `--tls-namespace=${ns.name}`,
          `--tls-service=${full}`,
          `--validating-webhook=${full}`,
          `--mutating-webhook=${full}`,
        ]),
      );
      const svcObj = await admin.core.readNamespacedService({ name: full, namespace: ns.name });
      expect(svcObj.spec?.ports?.map((p) => `${p.name}:${p.port}->${p.targetPort}`)).toEqual([
        'https:443->https',
        'metrics:9090->metrics',
      ]);
    } finally {
      await cleanup();
    }
  });

  test.each([
    ['certManager', { 'certs.mode': 'certManager' }],
    [
      'files',
      {
        'certs.mode': 'files',
        'certs.files.secretName': 'my-tls',
        'certs.files.caBundle': '-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----',
      },
    ],
  ])('certs.mode=%s renders objects the API server accepts (server-side dry run)', async (mode, set) => {
    const full = `guard-${randomSuffix()}`;
    const objs = await renderChart('g', ns.name, { fullnameOverride: full, ...set });
    const certManagerKinds = objs.filter((o) => o.apiVersion === 'cert-manager.io/v1');
    if (mode === 'certManager') {
      expect(certManagerKinds.map((o) => `${o.kind}/${o.metadata?.name}`).sort()).toEqual(
        [
          `Certificate/${full}-ca`,
          `Certificate/${full}-serving`,
          `Issuer/${full}-ca`,
          `Issuer/${full}-selfsigned`,
        ].sort(),
      );
      const vwc = findObject(objs, 'ValidatingWebhookConfiguration');
      expect(vwc.metadata?.annotations?.['cert-manager.io/inject-ca-from']).toBe(`${ns.name}/${full}-serving`);
    } else {
      const vwc = findObject(objs, 'ValidatingWebhookConfiguration') as unknown as k8s.V1ValidatingWebhookConfiguration;
      expect(
        vwc.webhooks?.every((w) =>
          Buffer.from(w.clientConfig.caBundle ?? '', 'base64')
            .toString()
            .startsWith('-----BEGIN CERTIFICATE-----'),
        ),
      ).toBe(true);
    }
    const dep = findObject(objs, 'Deployment') as unknown as k8s.V1Deployment;
    expect(dep.spec?.template.spec?.containers[0]?.args).toEqual(
      expect.arrayContaining([
        '--tls-cert-file=/etc/spiderpool-guard/tls/tls.crt',
        '--tls-key-file=/etc/spiderpool-guard/tls/tls.key',
      ]),
    );
    // cert-manager CRDs are not installed in the test bed: dry-run everything else
    const rest = objs.filter((o) => o.apiVersion !== 'cert-manager.io/v1');
    for (const o of rest) await admin.objects.create(o, undefined, 'All');
  });

  test('networkPolicy and clientAuth on: the NetworkPolicy, the client CA and the probes are accepted (server-side dry run)', async () => {
    const full = `guard-${randomSuffix()}`;
    const objs = await renderChart('g', ns.name, {
      fullnameOverride: full,
      'networkPolicy.enabled': true,
      'networkPolicy.apiServerCidrs[0]': '10.0.0.0/24',
      'networkPolicy.apiServerCidrs[1]': 'fd00::/64',
      'networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.kubernetes\\.io/metadata\\.name': 'monitoring',
      'clientAuth.enabled': true,
      'clientAuth.caConfigMapName': 'apiserver-webhook-client-ca',
    });
    const np = findObject(objs, 'NetworkPolicy') as unknown as k8s.V1NetworkPolicy;
    expect(np.spec?.policyTypes).toEqual(['Ingress']);
    // client-node's typed objects name `from` `_from`
    const rules = np.spec?.ingress?.map((r) => ({
      ports: r.ports?.map((p) => `${p.port}/${p.protocol}`),
      from: r._from?.map((f) => f.ipBlock?.cidr ?? f.namespaceSelector?.matchLabels),
    }));
    expect(rules).toEqual([
      { ports: ['https/TCP'], from: ['10.0.0.0/24', 'fd00::/64'] },
      { ports: ['metrics/TCP'], from: [{ 'kubernetes.io/metadata.name': 'monitoring' }] },
    ]);
    const dep = findObject(objs, 'Deployment') as unknown as k8s.V1Deployment;
    const pod = dep.spec!.template.spec!;
    expect(pod.containers[0].args).toEqual(
      expect.arrayContaining(['--client-ca-file=/etc/spiderpool-guard/client-ca/ca.crt']),
    );
    expect(pod.volumes?.find((v) => v.name === 'client-ca')?.configMap?.name).toBe('apiserver-webhook-client-ca');
    expect(pod.containers[0].volumeMounts?.find((m) => m.name === 'client-ca')).toMatchObject({
      mountPath: '/etc/spiderpool-guard/client-ca',
      readOnly: true,
    });
    for (const o of objs) await admin.objects.create(o, undefined, 'All');
  });

  test('hostNetwork: the metrics listener stays on 127.0.0.1 and the probes target it there', async () => {
    const objs = await renderChart('g', ns.name, { hostNetwork: true });
    const c = (findObject(objs, 'Deployment') as unknown as k8s.V1Deployment).spec!.template.spec!.containers[0];
    expect(c.args).toEqual(expect.arrayContaining(['--metrics-host=127.0.0.1']));
    expect(c.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'metrics', scheme: 'HTTP', host: '127.0.0.1' });
    expect(c.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'metrics', scheme: 'HTTP', host: '127.0.0.1' });
    expect(await renderError({ 'networkPolicy.enabled': true })).toMatch(/networkPolicy.apiServerCidrs/);
    expect(await renderError({ 'clientAuth.enabled': true })).toMatch(/caSecretName or clientAuth.caConfigMapName/);
  });

  test('guard.terminationHoldMax: passed as --termination-hold-max when set, absent by default, refused when not a duration', async () => {
    const argsOf = (objs: Awaited<ReturnType<typeof renderChart>>) =>
      (findObject(objs, 'Deployment') as unknown as k8s.V1Deployment).spec?.template.spec?.containers[0]?.args ?? [];
    expect(argsOf(await renderChart('g', ns.name)).some((a) => a.startsWith('--termination-hold-max'))).toBe(false);
    expect(argsOf(await renderChart('g', ns.name, { 'guard.terminationHoldMax': '30m' }))).toEqual(
      expect.arrayContaining(['--termination-hold-max=30m']),
    );
    expect(await renderError({ 'guard.terminationHoldMax': '30' })).toMatch(/terminationHoldMax/);
  });

  test("memory.allocator: the image's jemalloc by default (no LD_PRELOAD set), glibc by an empty LD_PRELOAD, nothing else", async () => {
    const envOf = (objs: Awaited<ReturnType<typeof renderChart>>) =>
      ((findObject(objs, 'Deployment') as unknown as k8s.V1Deployment).spec?.template.spec?.containers[0]?.env ?? [])
        .filter((e) => e.name === 'LD_PRELOAD' || e.name === 'MALLOC_CONF')
        .map((e) => `${e.name}=${e.value}`);
    expect(envOf(await renderChart('g', ns.name))).toEqual([]);
    expect(envOf(await renderChart('g', ns.name, { 'memory.allocator': 'glibc' }))).toEqual(['LD_PRELOAD=']);
    expect(await renderError({ 'memory.allocator': 'tcmalloc' })).toMatch(/allocator/);
  });

  test('RBAC grants exactly the reviewed list, enforced by the API server', async () => {
    const full = `guard-${randomSuffix()}`;
    const objs = await renderChart('g', ns.name, { fullnameOverride: full });
    const clusterRole = findObject(objs, 'ClusterRole', full) as unknown as { rules: Rule[] };
    const role = findObject(objs, 'Role', full) as unknown as { rules: Rule[] };
    expect(flatten(clusterRole.rules)).toEqual(
      [
        'core/pods: get,list,watch',
        'apps/statefulsets: get,list,watch',
        'core/nodes: get,list,watch',
        'spiderpool.spidernet.io/spiderippools: get,list,watch',
        'spiderpool.spidernet.io/spiderippools/status: update',
        'spiderpool.spidernet.io/spiderendpoints: delete,get,list,patch,update,watch',
        'spiderpool.spidernet.io/spiderreservedips: list,watch',
        'kubevirt.io/virtualmachineinstances: get,list,watch',
        'kubevirt.io/virtualmachines: get,list,watch',
        'core/events: create,patch',
        'events.k8s.io/events: create,patch',
        `admissionregistration.k8s.io/validatingwebhookconfigurations[${full}]: get,patch`,
        `admissionregistration.k8s.io/mutatingwebhookconfigurations[${full}]: get,patch`,
      ].sort(),
    );
    expect(flatten(role.rules)).toEqual(
      [
        `core/secrets[${full}-tls]: get,update`,
        'core/secrets: create',
        `coordination.k8s.io/leases[${full}-reconciler]: get,update`,
        'coordination.k8s.io/leases: create',
      ].sort(),
    );
    // the pre-delete drain hook's own Role: scale that one Deployment, see whether its pods are gone
    const drainRole = findObject(objs, 'Role', `${full}-uninstall-drain`) as unknown as { rules: Rule[] };
    expect(flatten(drainRole.rules)).toEqual([`apps/deployments/scale[${full}]: get,patch`, 'core/pods: list'].sort());
    expect(
      objs
        .filter((o) => o.metadata?.name === `${full}-uninstall-drain`)
        .map((o) => o.metadata?.annotations?.['helm.sh/hook']),
    ).toEqual(['pre-delete', 'pre-delete', 'pre-delete', 'pre-delete']);
    const noDrain = await renderChart('g', ns.name, { fullnameOverride: full, 'uninstallDrain.enabled': false });
    expect(noDrain.some((o) => o.metadata?.name === `${full}-uninstall-drain`)).toBe(false);
    // other modes / switches drop what they do not need
    const minimal = await renderChart('g', ns.name, {
      fullnameOverride: full,
      'certs.mode': 'certManager',
      'reconciler.enabled': false,
      'kubevirt.enabled': false,
    });
    expect(minimal.some((o) => o.kind === 'Role' && o.metadata?.name === full)).toBe(false);
    expect(flatten((findObject(minimal, 'ClusterRole') as unknown as { rules: Rule[] }).rules).join('\n')).not.toMatch(
      /admissionregistration|kubevirt/,
    );

    // the API server enforces the same: SubjectAccessReview for the chart's service account
    const rbac = objs.filter((o) =>
      ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'].includes(o.kind ?? ''),
    );
    const { cleanup } = await applyObjects(admin.objects, rbac);
    try {
      const authz = admin.kc.makeApiClient(k8s.AuthorizationV1Api);
      const user = `system:serviceaccount:${ns.name}:${full}`;
      const can = async (attrs: k8s.V1ResourceAttributes) => {
        const r = await authz.createSubjectAccessReview({
          body: {
            apiVersion: 'authorization.k8s.io/v1',
            kind: 'SubjectAccessReview',
            spec: {
              user,
              groups: ['system:serviceaccounts', `system:serviceaccounts:${ns.name}`, 'system:authenticated'],
              resourceAttributes: attrs,
            },
          },
        });
        return r.status?.allowed === true;
      };
      const adm = 'admissionregistration.k8s.io';
      const sp = 'spiderpool.spidernet.io';
      const expectations: Array<[boolean, k8s.V1ResourceAttributes]> = [
        [true, { verb: 'get', group: adm, resource: 'validatingwebhookconfigurations', name: full }],
        [true, { verb: 'patch', group: adm, resource: 'mutatingwebhookconfigurations', name: full }],
        [false, { verb: 'update', group: adm, resource: 'validatingwebhookconfigurations', name: full }],
        [false, { verb: 'get', group: adm, resource: 'validatingwebhookconfigurations', name: 'someone-else' }],
        [false, { verb: 'list', group: adm, resource: 'validatingwebhookconfigurations' }],
        [false, { verb: 'delete', group: adm, resource: 'validatingwebhookconfigurations', name: full }],
        [true, { verb: 'get', resource: 'secrets', namespace: ns.name, name: `${full}-tls` }],
        [true, { verb: 'update', resource: 'secrets', namespace: ns.name, name: `${full}-tls` }],
        [true, { verb: 'create', resource: 'secrets', namespace: ns.name }],
        [false, { verb: 'get', resource: 'secrets', namespace: ns.name, name: 'other' }],
        [false, { verb: 'list', resource: 'secrets', namespace: ns.name }],
        [false, { verb: 'get', resource: 'secrets', namespace: 'kube-system', name: `${full}-tls` }],
        [
          true,
          {
            verb: 'update',
            group: 'coordination.k8s.io',
            resource: 'leases',
            namespace: ns.name,
            name: `${full}-reconciler`,
          },
        ],
        [
          false,
          {
            verb: 'update',
            group: 'coordination.k8s.io',
            resource: 'leases',
            namespace: ns.name,
            name: 'kube-scheduler',
          },
        ],
        [true, { verb: 'watch', resource: 'pods' }],
        [false, { verb: 'delete', resource: 'pods', namespace: ns.name, name: 'x' }],
        [true, { verb: 'update', group: sp, resource: 'spiderippools', subresource: 'status', name: 'p' }],
        [false, { verb: 'update', group: sp, resource: 'spiderippools', name: 'p' }],
        [false, { verb: 'patch', group: sp, resource: 'spiderippools', subresource: 'status', name: 'p' }],
        [true, { verb: 'delete', group: sp, resource: 'spiderendpoints', namespace: 'default', name: 'e' }],
        [false, { verb: 'create', group: sp, resource: 'spiderendpoints', namespace: 'default' }],
        [true, { verb: 'create', group: 'events.k8s.io', resource: 'events', namespace: 'default' }],
      ];
      const got = await Promise.all(expectations.map(async ([, a]) => can(a)));
      expect(got).toEqual(expectations.map(([allowed]) => allowed));
    } finally {
      await cleanup();
    }
  });

  test('values.schema.json and template guards reject bad values', async () => {
    expect(await renderError({ 'guard.mode': 'block' })).toMatch(/guard\/mode/);
    expect(await renderError({ 'guard.ruleModes.NOT_A_RULE': 'warn' })).toMatch(/NOT_A_RULE/);
    expect(await renderError({ 'guard.ruleModes.LIVE_IP_RELEASE': 'deny' })).toMatch(/LIVE_IP_RELEASE/);
    expect(await renderError({ 'webhook.timeoutSeconds': 31 })).toMatch(/timeoutSeconds/);
    expect(await renderError({ 'certs.mode': 'vault' })).toMatch(/certs\/mode/);
    expect(await renderError({ 'certs.mode': 'files' })).toMatch(/certs/);
    expect(await renderError({ 'certs.selfManaged.keyType': 'dsa' })).toMatch(/keyType/);
    expect(await renderError({ replicaCount: -1 })).toMatch(/replicaCount/);
    expect(await renderError({ 'webhook.failurePolicy': 'Fail' })).toMatch(/cold-start deadlock/);
    expect(await renderError({ 'webhook.failurePolicy': 'Fail', hostNetwork: true })).toBeUndefined();
    expect(
      await renderError({ 'webhook.failurePolicy': 'Fail', 'webhook.exemptPoolNames[0]': 'guard-pool' }),
    ).toBeUndefined();
  });

  test('failurePolicy=Fail with a dedicated exempt pool: the API server accepts the CEL matchConditions', async () => {
    const full = `guard-${randomSuffix()}`;
    const objs = await renderChart('g', ns.name, {
      fullnameOverride: full,
      'webhook.failurePolicy': 'Fail',
      'webhook.exemptPoolNames[0]': 'guard-pool',
    });
    const hooks = objs.filter(
      (o): o is Rendered => o.kind === 'ValidatingWebhookConfiguration' || o.kind === 'MutatingWebhookConfiguration',
    );
    const { cleanup } = await applyObjects(admin.objects, hooks);
    try {
      const vwc = await admin.admission.readValidatingWebhookConfiguration({ name: full });
      expect(vwc.webhooks?.[0]?.failurePolicy).toBe('Fail');
      expect(vwc.webhooks?.[0]?.matchConditions).toEqual([
        { name: 'exempt-guard-pools', expression: '!(request.name in ["guard-pool"])' },
      ]);
    } finally {
      await cleanup();
    }
  });
});
