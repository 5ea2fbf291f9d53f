/**
 * What tests may look at of the pods the runner runs, from outside: their log files (stdout+stderr of each run of
 * a container, `<state dir>/pods/<ns>_<name>_<uid>/<container>/<restartCount>.log`, like the kubelet's
 * /var/log/pods) and their process ids (the pod status' containerID, `process://<pid>`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

interface PodLike {
  metadata?: { name?: string; namespace?: string; uid?: string };
  status?: { containerStatuses?: { name: string; containerID?: string }[] };
}

export function containerLogPath(stateDir: string, pod: PodLike, container: string, restartCount = 0): string {
  const m = pod.metadata ?? {};
  return path.join(stateDir, 'pods', `${m.namespace}_${m.name}_${m.uid}`, container, `${restartCount}.log`);
}

/** The log of one run of a container ('' when it has not written anything yet). */
export function containerLog(stateDir: string, pod: PodLike, container: string, restartCount = 0): string {
  try {
    return fs.readFileSync(containerLogPath(stateDir, pod, container, restartCount), 'utf8');
  } catch {
    return '';
  }
}

/** The process id of a running container, from its status (containerID `process://<pid>`). */
export function containerPid(pod: PodLike, container: string): number | undefined {
  const id = pod.status?.containerStatuses?.find((c) => c.name === container)?.containerID;
  const m = /^process:\/\/(\d+)$/.exec(id ?? '');
  return m ? Number(m[1]) : undefined;
}
