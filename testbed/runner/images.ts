/**
 * The images the runner knows, and what "running" one means here: a program of this machine with the image's
 * ENTRYPOINT/CMD, working directory, environment and default user. A pod any of whose containers uses another image
 * is not ours: the runner leaves it Pending (tests bind such pods themselves, as before).
 *
 *   ghcr.io/spidernet-io/spiderpool-guard:*  the Dockerfile's runtime stage: WORKDIR /app (this checkout, whose
 *                                            dist/ must be built, bind-mounted read-only at /app before the pod's
 *                                            volumes, as an image's files sit under its volumes: an emptyDir on
 *                                            /tmp cannot hide a checkout that lives under /tmp, and a checkout
 *                                            under /root is readable by the image's user), ENTRYPOINT
 *                                            node dist/webhook/cli/main.js,
 *                                            CMD serve, NODE_ENV=production, USER 1000:1000
 *   curlimages/curl:*                        the chart's `helm test` image: ENTRYPOINT curl, USER 100 (curl_user);
 *                                            the local /bin/sh and curl stand in for the image's
 */
import * as path from 'node:path';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');

export interface KnownImage {
  /** the image's ENTRYPOINT (replaced by the container's `command`) */
  entrypoint: string[];
  /** the image's CMD (replaced by the container's `args`, and dropped when `command` is set) */
  cmd: string[];
  workingDir: string;
  /** the image's files: host directories bind-mounted (read-only) before the pod's volumes */
  files?: { hostPath: string; mountPath: string }[];
  env: Record<string, string>;
  /** the image's USER, used when no runAsUser/runAsGroup applies */
  user: { uid: number; gid: number };
}

const IMAGE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Image repository (registry/path, without tag or digest) → how to run it. */
export const KNOWN_IMAGES: Record<string, KnownImage> = {
  'ghcr.io/spidernet-io/spiderpool-guard': {
    entrypoint: [process.execPath, 'dist/webhook/cli/main.js'],
    cmd: ['serve'],
    workingDir: '/app',
    files: [{ hostPath: REPO_ROOT, mountPath: '/app' }],
    env: { PATH: IMAGE_PATH, NODE_ENV: 'production' },
    user: { uid: 1000, gid: 1000 },
  },
  'curlimages/curl': {
    entrypoint: ['curl'],
    cmd: [],
    workingDir: '/',
    env: { PATH: IMAGE_PATH },
    user: { uid: 100, gid: 101 },
  },
};

/** `repo[:tag][@digest]` → repo (a port in the registry host is kept: `host:5000/x:tag` → `host:5000/x`). */
export function imageRepository(image: string): string {
  const noDigest = image.split('@')[0] ?? image;
  const slash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  return colon > slash ? noDigest.slice(0, colon) : noDigest;
}

export function knownImage(image: string | undefined): KnownImage | undefined {
  return image === undefined ? undefined : KNOWN_IMAGES[imageRepository(image)];
}
