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
  matches(user: string): boolean {
    return this.patterns.some((p) => p.test(user));
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
