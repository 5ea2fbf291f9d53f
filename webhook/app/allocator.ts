// Which allocator serves the process's native memory (I/O and TLS buffers, V8's own tables). The image preloads
// jemalloc (Dockerfile, LD_PRELOAD) because glibc's malloc keeps what a first sync churns through; the chart can turn
// it off (memory.allocator=glibc), and a preload that failed only prints a line on stderr. The startup log says
// which one runs, so a pod using more memory than docs/operations.md's figures can be checked at once.
import { readFileSync } from 'node:fs';

export type NativeAllocator = 'jemalloc' | 'glibc' | 'unknown';

/** The allocator a process with these memory mappings (/proc/PID/maps) uses. */
export function allocatorOfMaps(maps: string): NativeAllocator {
  if (/\/libjemalloc\.so[.\d]*$/m.test(maps)) return 'jemalloc';
  if (/\/libc\.so\.6$/m.test(maps)) return 'glibc';
  return 'unknown';
}

/** This process's allocator; 'unknown' where /proc is not readable (not Linux). */
export function nativeAllocator(readMaps = () => readFileSync('/proc/self/maps', 'utf8')): NativeAllocator {
  try {
    return allocatorOfMaps(readMaps());
  } catch {
    return 'unknown';
  }
}
