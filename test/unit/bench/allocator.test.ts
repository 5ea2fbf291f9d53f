import {
  allocatorChoices,
  allocatorEnv,
  checkAllocator,
  expectedAllocator,
  imageAllocatorEnv,
} from '../../../bench/allocator';

describe('bench scale --allocator', () => {
  test("image: the runtime stage's LD_PRELOAD and MALLOC_CONF, read from the Dockerfile", () => {
    expect(imageAllocatorEnv()).toEqual({
      LD_PRELOAD: 'libjemalloc.so.2',
      MALLOC_CONF: 'dirty_decay_ms:1000',
    });
    expect(expectedAllocator('image')).toBe('jemalloc');
    // only the runtime stage counts, and only the allocator's variables
    const text = [
      'FROM node:20 AS build',
      'ENV LD_PRELOAD=libbuild.so',
      'FROM node:20 AS runtime',
      'ENV NODE_ENV=production LD_PRELOAD="libtcmalloc.so.4"',
    ].join('\n');
    expect(imageAllocatorEnv(text)).toEqual({ LD_PRELOAD: 'libtcmalloc.so.4' });
    expect(() => imageAllocatorEnv('FROM node:20 AS build\n')).toThrow(/no runtime stage/);
  });

  test("glibc: this process's environment without the allocator's variables; image: with the image's", () => {
    const saved = { LD_PRELOAD: process.env.LD_PRELOAD, MALLOC_CONF: process.env.MALLOC_CONF };
    process.env.LD_PRELOAD = 'libother.so';
    process.env.MALLOC_CONF = 'narenas:1';
    try {
      const glibc = allocatorEnv('glibc');
      expect([glibc.LD_PRELOAD, glibc.MALLOC_CONF, glibc.PATH]).toEqual([undefined, undefined, process.env.PATH]);
      const image = allocatorEnv('image');
      expect([image.LD_PRELOAD, image.MALLOC_CONF]).toEqual(['libjemalloc.so.2', 'dirty_decay_ms:1000']);
    } finally {
      for (const [k, v] of Object.entries(saved))
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
    }
  });

  test('choices: image by default, both in a fixed order, anything else refused', () => {
    expect(allocatorChoices(undefined)).toEqual(['image']);
    expect(allocatorChoices('glibc')).toEqual(['glibc']);
    expect(allocatorChoices('both')).toEqual(['glibc', 'image']);
    expect(() => allocatorChoices('tcmalloc')).toThrow(/--allocator tcmalloc/);
  });

  test('a process that did not get the allocator asked for stops the bench, naming what it got', () => {
    expect(checkAllocator('the probe', 'jemalloc', 'image')).toBe('jemalloc');
    expect(checkAllocator('the probe', 'glibc', 'glibc')).toBe('glibc');
    expect(() => checkAllocator('the guard', 'glibc', 'image')).toThrow(
      /the guard under --allocator image runs with glibc, not jemalloc .*apt-get install libjemalloc2/,
    );
    expect(() => checkAllocator('the probe', undefined, 'glibc')).toThrow(/runs with undefined, not glibc/);
  });
});
