/**
 * The state directory of one test bed and the JSON state file in it. Shared by the supervisor (which writes it)
 * and by callers (which read it). No Kubernetes client code here, so jest's globalSetup stays light.
 *
 * Layout of `<state dir>` (default `~/.cache/spiderpool-guard/testbed/<name>/`):
 *   state.json            TestbedState (phase, pids, ports, paths)
 *   kubeconfig            admin kubeconfig (client certificate in system:masters), embedded credentials
 *   pki/                  CA, serving and client certificates, service-account keys
 *   etcd-data/            etcd data (removed by `down`)
 *   logs/*.log            etcd, kube-apiserver, kube-controller-manager, supervisor
 *   audit.log             kube-apiserver audit log (Metadata level, spiderpool.spidernet.io + admission webhooks)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TestbedBinaries } from './binaries';
import type { TestbedNetwork } from './runner/network';
import { testbedsRoot, writeFileAtomic } from './util';

export type TestbedPhase = 'starting' | 'ready' | 'failed' | 'stopping' | 'stopped';

/** Configuration handed from the caller to the supervisor process (JSON in argv). */
export interface SupervisorConfig {
  name: string;
  stateDir: string;
  binaries: TestbedBinaries;
  /** Number of Node objects to create: node-1 .. node-N. */
  nodes: number;
  /** When set, the supervisor shuts the test bed down as soon as this process is gone. */
  watchPid?: number;
  /** Run pods of known images as processes (runner/); default: when running as root with iproute2. */
  runPods?: boolean;
  /** kube-controller-manager's controllers; default CONTROLLERS (cluster.ts) */
  controllers?: string[];
  /** kube-apiserver's --feature-gates (e.g. "WatchList=false"); default: none, the release's defaults */
  apiserverFeatureGates?: string;
}

export interface TestbedState {
  name: string;
  phase: TestbedPhase;
  error?: string;
  /** The supervisor process; it leads the process group that holds every child (pgid = supervisorPid). */
  supervisorPid: number;
  pgid: number;
  pids: { etcd?: number; kubeApiserver?: number; kubeControllerManager?: number; runner?: number };
  ports: { etcdClient: number; etcdPeer: number; apiserver: number; controllerManager: number };
  apiserverUrl: string;
  kubeconfigPath: string;
  stateDir: string;
  pkiDir: string;
  auditLogPath: string;
  logsDir: string;
  binaries: TestbedBinaries;
  nodes: string[];
  /** The pod network of the process runner (absent when the test bed runs no pods). */
  network?: TestbedNetwork;
  startedAt: string;
  readyAt?: string;
  /** Seconds from supervisor start to ready (processes + bootstrap objects + CRDs established). */
  startupSeconds?: number;
  watchPid?: number;
}

export function defaultStateDir(name: string): string {
  return path.join(testbedsRoot(), name);
}

export function stateFile(stateDir: string): string {
  return path.join(stateDir, 'state.json');
}

export function readState(stateDir: string): TestbedState | undefined {
  try {
    return JSON.parse(fs.readFileSync(stateFile(stateDir), 'utf8')) as TestbedState;
  } catch {
    return undefined;
  }
}

export function writeState(state: TestbedState): void {
  writeFileAtomic(stateFile(state.stateDir), JSON.stringify(state, null, 2) + '\n');
}

/**
 * Pids of the live (non-zombie) members of a process group, read from /proc (Linux). Zombies do not count:
 * they are dead, merely not yet reaped by their parent.
 */
export function groupMembers(pgid: number): number[] {
  const members: number[] = [];
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    // Not Linux: fall back to a signal probe of the group.
    try {
      process.kill(-pgid, 0);
      return [pgid];
    } catch {
      return [];
    }
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid pgrp ... ; comm may contain spaces/parens, so parse after the last ')'.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] !== 'Z' && Number(fields[2]) === pgid) members.push(Number(entry));
    } catch {
      /* process vanished */
    }
  }
  return members;
}
