import { allocatorOfMaps, nativeAllocator } from '../../../webhook/app';

const libc =
  '7f1c2a400000-7f1c2a426000 r--p 00000000 fe:00 1573054                    /usr/lib/x86_64-linux-gnu/libc.so.6';
const jemalloc =
  '7faf0c000000-7faf0c009000 r--p 00000000 fe:00 15630337                   /usr/lib/x86_64-linux-gnu/libjemalloc.so.2';
const node = '55d0a8c00000-55d0a9000000 r--p 00000000 fe:00 1441794                    /usr/local/bin/node';

describe('allocatorOfMaps', () => {
  test('jemalloc when it is mapped (preloaded), whatever else is', () => {
    expect(allocatorOfMaps([node, jemalloc, libc].join('\n'))).toBe('jemalloc');
    expect(
      allocatorOfMaps(
        [node, libc, jemalloc.replace('/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu')].join('\n'),
      ),
    ).toBe('jemalloc');
  });

  test("glibc's malloc when only libc is mapped", () => {
    expect(allocatorOfMaps([node, libc].join('\n'))).toBe('glibc');
  });

  test('unknown without either (a static or musl build), and a file merely named alike does not count', () => {
    expect(allocatorOfMaps(node)).toBe('unknown');
    expect(allocatorOfMaps(`${node}\n${libc.replace('libc.so.6', 'libc.so.6.bak')}`)).toBe('unknown');
  });
});

describe('nativeAllocator', () => {
  test('unknown when the maps cannot be read (not Linux)', () => {
    expect(
      nativeAllocator(() => {
        throw new Error('ENOENT: /proc/self/maps');
      }),
    ).toBe('unknown');
  });

  test('this test process: glibc, or jemalloc when it runs preloaded', () => {
    expect(nativeAllocator()).toBe(process.env.LD_PRELOAD?.includes('jemalloc') ? 'jemalloc' : 'glibc');
  });
});
