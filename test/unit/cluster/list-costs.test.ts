// Where a first sync spends its time (bench scale's breakdown): pages are summed per resource, and a resource's wall
// time runs from its first request to its last trimmed item, with time passed in.
import { ListCosts } from '../../../webhook/cluster/list-costs';

describe('ListCosts', () => {
  it('sums pages per resource and keeps the slowest time to first byte', () => {
    let now = 0;
    const costs = new ListCosts(() => now);
    costs.requesting('pods');
    now = 100;
    costs.page('pods', { ttfbMs: 80, bodyMs: 15, bytes: 1000, parseMs: 5 }, 2);
    costs.trimmed('pods', 1);
    costs.trimmed('pods', 2);
    now = 150;
    costs.requesting('pods');
    now = 300;
    costs.page('pods', { ttfbMs: 120, bodyMs: 20, bytes: 600, parseMs: 4 }, 1);
    costs.trimmed('pods', 3);
    now = 310;
    costs.requesting('nodes');
    costs.page('nodes', { ttfbMs: 7, bodyMs: 1, bytes: 50, parseMs: 1 }, 1);
    costs.trimmed('nodes', 1);
    expect(costs.report()).toEqual({
      pods: {
        method: 'list',
        pages: 2,
        items: 3,
        bytes: 1600,
        ttfbMs: 200,
        bodyMs: 35,
        parseMs: 9,
        trimMs: 6,
        maxTtfbMs: 120,
        wallMs: 300,
      },
      nodes: {
        method: 'list',
        pages: 1,
        items: 1,
        bytes: 50,
        ttfbMs: 7,
        bodyMs: 1,
        parseMs: 1,
        trimMs: 1,
        maxTtfbMs: 7,
        wallMs: 0,
      },
    });
  });

  it('counts a streaming list as one page whose wall time ends at its end bookmark', () => {
    let now = 0;
    const costs = new ListCosts(() => now);
    costs.requesting('pods');
    now = 40;
    costs.trimmed('pods', 2); // items are trimmed as their events arrive, before the "page" is complete
    now = 90;
    costs.trimmed('pods', 3);
    now = 95;
    costs.page('pods', { ttfbMs: 30, bodyMs: 65, bytes: 4000, parseMs: 20 }, 2, 'watch-list');
    expect(costs.report().pods).toEqual({
      method: 'watch-list',
      pages: 1,
      items: 2,
      bytes: 4000,
      ttfbMs: 30,
      bodyMs: 65,
      parseMs: 20,
      trimMs: 5,
      maxTtfbMs: 30,
      wallMs: 95,
    });
  });
});
