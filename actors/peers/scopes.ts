// Scope matching, shared by the registry (per operation) and the peer list (per caller).
// A granted scope `x` covers `x` itself and every `x:…` below it (granting `git` covers `git:write`);
// `*` covers everything. An operation with no scopes is public.
const SCOPE_PATTERN = /^(\*|[a-z0-9][a-z0-9_.-]*(:[a-z0-9][a-z0-9_.-]*)*)$/;

export function isScope(text: string): boolean {
  return text.length <= 64 && SCOPE_PATTERN.test(text);
}

export function hasScope(granted: ReadonlySet<string>, required: string): boolean {
  if (granted.has('*') || granted.has(required)) return true;
  for (let at = required.indexOf(':'); at > 0; at = required.indexOf(':', at + 1)) {
    if (granted.has(required.slice(0, at))) return true;
  }
  return false;
}

/** The required scopes the caller lacks, in the order the operation declares them. */
export function missingScopes(granted: ReadonlySet<string>, required: readonly string[]): string[] {
  return required.filter((scope) => !hasScope(granted, scope));
}
