const SEGMENT = /^[A-Za-z0-9_-]+$/;

/**
 * Why a pattern is invalid, or null when it is valid. Patterns are dot-separated segments;
 * a last segment `*` matches one or more segments, and `*` alone matches every type.
 */
export function eventTypePatternProblem(pattern: string): string | null {
  if (pattern === '*') return null;
  const segments = pattern.split('.');
  for (const [index, segment] of segments.entries()) {
    if (segment === '*') {
      if (index !== segments.length - 1) return `"*" may only be the last segment of "${pattern}"`;
      continue;
    }
    if (!SEGMENT.test(segment)) {
      return `"${pattern}" has an invalid segment "${segment}" (letters, digits, "_" and "-" only)`;
    }
  }
  return null;
}

export function eventTypeProblem(type: string): string | null {
  const segments = type.split('.');
  const bad = segments.find((segment) => !SEGMENT.test(segment));
  return bad === undefined ? null : `"${type}" has an invalid segment "${bad}" (letters, digits, "_" and "-" only)`;
}

export function matchesEventType(pattern: string, type: string): boolean {
  if (pattern === '*') return true;
  if (!pattern.endsWith('.*')) return pattern === type;
  const prefix = pattern.slice(0, -1);
  return type.startsWith(prefix) && type.length > prefix.length;
}

export function matchesAnyEventType(patterns: readonly string[], type: string): boolean {
  return patterns.some((pattern) => matchesEventType(pattern, type));
}
