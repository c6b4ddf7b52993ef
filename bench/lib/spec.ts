// Server specs on the command line: `baseline`, `nchan`, `broker[@tag+tag]` with tags `shm` (database on
// tmpfs) and `old` (the build given by --old/--old-ref/--compare instead of the current one).

export interface Spec {
  kind: string;
  tags: Set<string>;
}

export function parseSpec(spec: string): Spec {
  const [kind, rest] = spec.split('@') as [string, string | undefined];
  return { kind, tags: new Set((rest ?? '').split('+').filter(Boolean)) };
}

function format(kind: string, tags: Iterable<string>): string {
  const t = [...tags].sort();
  return t.length ? `${kind}@${t.join('+')}` : kind;
}

/** `broker@old+shm` → `broker@shm`: the current build's spec that an old one is compared with. */
export function currentOf(spec: string): string {
  const { kind, tags } = parseSpec(spec);
  tags.delete('old');
  return format(kind, tags);
}

export const isOld = (spec: string): boolean => parseSpec(spec).tags.has('old');

/**
 * With an old build: each current broker target gets its old twin right after it (unless the list already
 * names an old one), so both are up at once and measured seconds apart in every row.
 */
export function withOldTwins(targets: readonly string[]): string[] {
  if (targets.some(isOld)) return [...targets];
  return targets.flatMap((t) => {
    const { kind, tags } = parseSpec(t);
    return kind === 'broker' ? [t, format(kind, [...tags, 'old'])] : [t];
  });
}
