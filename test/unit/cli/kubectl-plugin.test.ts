// The kubectl plugin entry: `kubectl spiderpool-guard check` reads the cluster kubectl would, from $KUBECONFIG
// (several files, merged with kubectl's precedence) or ~/.kube/config; nothing else about the arguments changes.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadKubeConfigFile } from '../../../webhook/cluster/kubeconfig';
import { pluginArgv } from '../../../webhook/cli/kubectl-plugin';

const HOME = '/home/op';

describe('pluginArgv', () => {
  test('check and reconcile without a source read $KUBECONFIG, passed on whole (every file of the list)', () => {
    const env = { KUBECONFIG: '/a/one.yaml:/b/two.yaml' };
    expect(pluginArgv(['check', '--output', 'json'], env, HOME)).toEqual([
      'check',
      '--kubeconfig',
      '/a/one.yaml:/b/two.yaml',
      '--output',
      'json',
    ]);
    expect(pluginArgv(['reconcile', '--once'], env, HOME)).toEqual([
      'reconcile',
      '--kubeconfig',
      '/a/one.yaml:/b/two.yaml',
      '--once',
    ]);
  });

  test.each([
    ['unset', {}],
    ['empty', { KUBECONFIG: '' }],
    ['only separators', { KUBECONFIG: '::' }],
  ])('KUBECONFIG %s: ~/.kube/config, as kubectl', (_what, env) => {
    expect(pluginArgv(['check'], env, HOME)).toEqual(['check', '--kubeconfig', '/home/op/.kube/config']);
  });

  test.each([
    [['check', '--kubeconfig', '/k']],
    [['check', '--kubeconfig=/k']],
    [['check', '--snapshot', 's.json']],
    [['reconcile', '--snapshot=s.json', '--once']],
    [['check', '--help']],
    [['check', '-h']],
    [['serve', '--port', '9443']],
    [['review', '--snapshot', 's.json', 'r.json']],
    [['--help']],
    [[]],
  ])('%j is passed on unchanged', (argv) => {
    expect(pluginArgv(argv, { KUBECONFIG: '/k1:/k2' }, HOME)).toEqual(argv);
  });

  test('--context and --namespace go to the command untouched (its flag table decides)', () => {
    expect(pluginArgv(['check', '--context', 'prod', '--namespace', 'kube-system'], {}, HOME)).toEqual([
      'check',
      '--kubeconfig',
      '/home/op/.kube/config',
      '--context',
      'prod',
      '--namespace',
      'kube-system',
    ]);
  });
});

describe('loadKubeConfigFile with a KUBECONFIG-style list', () => {
  let dir: string;
  const write = (name: string, doc: object) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, JSON.stringify(doc));
    return file;
  };
  const cluster = (name: string, server: string) => ({ name, cluster: { server, 'certificate-authority': 'ca.crt' } });
  const context = (name: string, clusterName: string) => ({ name, context: { cluster: clusterName, user: 'u' } });
  const config = (extra: object) => ({
    apiVersion: 'v1',
    kind: 'Config',
    users: [{ name: 'u', user: { token: 't' } }],
    ...extra,
  });

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spg-kubeconfig-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('the current context set only in the second file is used; names defined twice: the first file wins', () => {
    const first = write(
      'first.yaml',
      config({ clusters: [cluster('shared', 'https://first.example:6443')], contexts: [context('one', 'shared')] }),
    );
    fs.mkdirSync(path.join(dir, 'sub'));
    const second = path.join(dir, 'sub', 'second.yaml');
    fs.writeFileSync(
      second,
      JSON.stringify(
        config({
          clusters: [cluster('shared', 'https://second.example:6443'), cluster('own', 'https://own.example:6443')],
          contexts: [context('one', 'own'), context('two', 'own')],
          'current-context': 'two',
        }),
      ),
    );
    const kc = loadKubeConfigFile(`${first}:${path.join(dir, 'missing.yaml')}:${second}`);
    expect(kc.getCurrentContext()).toBe('two');
    expect(kc.getCurrentCluster()?.server).toBe('https://own.example:6443');
    // relative certificate paths stay relative to the file that holds them
    expect(kc.getCurrentCluster()?.caFile).toBe(path.join(dir, 'sub', 'ca.crt'));
    expect(kc.getContextObject('one')?.cluster).toBe('shared');
    expect(kc.getCluster('shared')?.server).toBe('https://first.example:6443');
  });

  test('the first file that sets current-context wins', () => {
    const a = write(
      'a.yaml',
      config({ clusters: [cluster('a', 'https://a.example')], contexts: [context('a', 'a')], 'current-context': 'a' }),
    );
    const b = write(
      'b.yaml',
      config({ clusters: [cluster('b', 'https://b.example')], contexts: [context('b', 'b')], 'current-context': 'b' }),
    );
    expect(loadKubeConfigFile(`${a}:${b}`).getCurrentCluster()?.server).toBe('https://a.example');
    expect(loadKubeConfigFile(`${b}:${a}`).getCurrentCluster()?.server).toBe('https://b.example');
  });

  test('a list of which no file exists is an error naming the files', () => {
    expect(() => loadKubeConfigFile(`${dir}/x:${dir}/y`)).toThrow(
      /cannot load kubeconfig .*none of the kubeconfig files exists/,
    );
  });
});
