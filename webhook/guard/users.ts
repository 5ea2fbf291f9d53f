// Guarded and exempt writers are matched by glob on request.userInfo.username (docs/rules.md, Terms).

/** `*` matches any run of characters, ':' included; everything else is literal. */
function globToRegExp(glob: string): RegExp {
  const escaped = glob.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${escaped.join('.*')}$`);
}

export class UserMatcher {
  private readonly patterns: RegExp[];
  constructor(readonly globs: readonly string[]) {
    this.patterns = globs.filter((g) => g !== '').map(globToRegExp);
  }
  // The last answer, kept: the reconciler's self-check asks for the same user once per planned write (~20,000 per
  // pass at 100,000 pods), and one identity string compare is cheaper than running the patterns again.
  private last: { user: string; matches: boolean } | undefined;
  matches(user: string): boolean {
    if (this.last?.user === user) return this.last.matches;
    const matches = this.patterns.some((p) => p.test(user));
    this.last = { user, matches };
    return matches;
  }
}

export const DEFAULT_GUARDED_USERS = ['system:serviceaccount:*:spiderpool-controller'];

/** "a,b , c" → ["a","b","c"] */
export function splitGlobList(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}
