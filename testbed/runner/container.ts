/**
 * One container as a process: `ip netns exec <pod netns> unshare --mount -- sh -c <setup> ...` where the setup
 * script, in the container's private mount namespace, bind-mounts the pod's volumes (and its /etc/hosts) at their
 * mountPaths, remounts / read-only for readOnlyRootFilesystem, changes to the working directory and execs
 * `setpriv` with the container's uid/gid/groups (no_new_privs for allowPrivilegeEscalation=false, an empty
 * capability set for `drop: [ALL]`), which execs the program. Every step execs, so the pid we spawn is the
 * program's pid: signals reach it directly and the pod status reports it (containerID `process://<pid>`).
 *
 * Probes (httpGet, tcpSocket, exec) run from the host against the pod IP, as the kubelet's do.
 */
import type * as k8s from '@kubernetes/client-node';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';

export interface Mount {
  hostPath: string;
  mountPath: string;
  readOnly: boolean;
}

export interface ProcessSpec {
  netns: string;
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  uid: number;
  gid: number;
  groups: number[];
  mounts: Mount[];
  readOnlyRootFilesystem: boolean;
  noNewPrivs: boolean;
  dropAllCapabilities: boolean;
  logFile: string;
}

function q(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function which(candidates: string[]): string {
  const found = candidates.find((c) => fs.existsSync(c));
  if (!found) throw new Error(`none of ${candidates.join(', ')} exists`);
  return found;
}

const IP = which(['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip']);
const UNSHARE = which(['/usr/bin/unshare', '/bin/unshare']);
const SETPRIV = which(['/usr/bin/setpriv', '/bin/setpriv']);
const NSENTER = which(['/usr/bin/nsenter', '/bin/nsenter']);

function setprivArgs(
  spec: Pick<ProcessSpec, 'uid' | 'gid' | 'groups' | 'noNewPrivs' | 'dropAllCapabilities'>,
): string[] {
  return [
    SETPRIV,
    `--reuid=${spec.uid}`,
    `--regid=${spec.gid}`,
    ...(spec.groups.length ? [`--groups=${spec.groups.join(',')}`] : ['--clear-groups']),
    ...(spec.noNewPrivs ? ['--no-new-privs'] : []),
    ...(spec.dropAllCapabilities ? ['--inh-caps=-all', '--bounding-set=-all'] : []),
    '--',
  ];
}

/** The setup script run by `sh -c` inside the container's mount namespace; the program's argv follows as "$@". */
export function setupScript(spec: ProcessSpec): string {
  const lines = ['set -e'];
  for (const m of spec.mounts) {
    const isFile = fs.existsSync(m.hostPath) && fs.statSync(m.hostPath).isFile();
    // A missing mount point is created on the host filesystem (an empty directory/file is all that remains of it).
    lines.push(isFile ? `[ -e ${q(m.mountPath)} ] || touch ${q(m.mountPath)}` : `mkdir -p ${q(m.mountPath)}`);
    lines.push(`mount --bind ${q(m.hostPath)} ${q(m.mountPath)}`);
    if (m.readOnly) lines.push(`mount -o remount,bind,ro ${q(m.mountPath)}`);
  }
  if (spec.readOnlyRootFilesystem) lines.push('mount -o remount,bind,ro /');
  lines.push(`cd ${q(spec.cwd)}`);
  lines.push(`exec ${setprivArgs(spec).map(q).join(' ')} "$@"`);
  return lines.join('\n');
}

/** Starts the container's process; stdout and stderr go to spec.logFile. */
export function startProcess(spec: ProcessSpec): ChildProcess {
  const fd = fs.openSync(spec.logFile, 'a');
  try {
    return spawn(
      IP,
      [
        'netns',
        'exec',
        spec.netns,
        UNSHARE,
        '--mount',
        '--propagation',
        'private',
        '/bin/sh',
        '-c',
        setupScript(spec),
        'sh',
        ...spec.argv,
      ],
      {
        env: spec.env,
        stdio: ['ignore', fd, fd],
      },
    );
  } finally {
    fs.closeSync(fd);
  }
}

export interface ProbeResult {
  ok: boolean;
  message: string;
}

function resolvePort(port: number | string | undefined, container: k8s.V1Container): number {
  if (typeof port === 'number') return port;
  if (port !== undefined && /^\d+$/.test(port)) return Number(port);
  const p = container.ports?.find((x) => x.name === port);
  if (!p) throw new Error(`probe port ${String(port)} is not a named port of container ${container.name}`);
  return p.containerPort;
}

function httpProbe(
  action: k8s.V1HTTPGetAction,
  podIp: string,
  container: k8s.V1Container,
  timeoutMs: number,
): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const secure = action.scheme === 'HTTPS';
    const headers: Record<string, string> = { 'User-Agent': 'kube-probe/1.34' };
    for (const h of action.httpHeaders ?? []) headers[h.name] = h.value;
    const req = (secure ? https : http).request(
      {
        host: action.host || podIp,
        port: resolvePort(action.port, container),
        path: action.path ?? '/',
        method: 'GET',
        headers,
        timeout: timeoutMs,
        agent: false,
        ...(secure ? { rejectUnauthorized: false } : {}), // the kubelet does not verify probe certificates either
      },
      (res) => {
        res.resume();
        const code = res.statusCode ?? 0;
        resolve({ ok: code >= 200 && code < 400, message: `HTTP probe failed with statuscode: ${code}` });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on('error', (err) =>
      resolve({
        ok: false,
        message: `Get "${secure ? 'https' : 'http'}://${podIp}${action.path ?? '/'}": ${err.message}`,
      }),
    );
    req.end();
  });
}

function tcpProbe(
  action: k8s.V1TCPSocketAction,
  podIp: string,
  container: k8s.V1Container,
  timeoutMs: number,
): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const sock = net.connect({
      host: action.host || podIp,
      port: resolvePort(action.port, container),
      timeout: timeoutMs,
    });
    sock.once('connect', () => {
      sock.destroy();
      resolve({ ok: true, message: '' });
    });
    sock.once('timeout', () => sock.destroy(new Error('timeout')));
    sock.once('error', (err) => resolve({ ok: false, message: `dial tcp: ${err.message}` }));
  });
}

/** Runs a command inside a running container (its network and mount namespaces, its user): exec probes, preStop. */
export function execInContainer(
  pid: number,
  spec: Pick<ProcessSpec, 'uid' | 'gid' | 'groups' | 'noNewPrivs' | 'dropAllCapabilities' | 'env' | 'cwd'>,
  command: string[],
  timeoutMs: number,
): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const child = spawn(
      NSENTER,
      [`--target=${pid}`, '--mount', '--net', `--wd=${spec.cwd}`, ...setprivArgs(spec), ...command],
      { env: spec.env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => resolve({ ok: false, message: err.message }));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        ok: code === 0,
        message: code === 0 ? '' : `command ${JSON.stringify(command)} exited ${code ?? signal}: ${out.slice(-500)}`,
      });
    });
  });
}

/** One probe attempt. */
export async function runProbe(
  probe: k8s.V1Probe,
  podIp: string,
  container: k8s.V1Container,
  pid: number | undefined,
  execSpec: Parameters<typeof execInContainer>[1],
): Promise<ProbeResult> {
  const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
  try {
    if (probe.httpGet) return await httpProbe(probe.httpGet, podIp, container, timeoutMs);
    if (probe.tcpSocket) return await tcpProbe(probe.tcpSocket, podIp, container, timeoutMs);
    if (probe.exec) {
      if (pid === undefined) return { ok: false, message: 'container not running' };
      return await execInContainer(pid, execSpec, probe.exec.command ?? [], timeoutMs);
    }
    return { ok: false, message: 'probe type not supported by the test bed runner (grpc)' };
  } catch (err) {
    return { ok: false, message: (err as Error).message };
  }
}
