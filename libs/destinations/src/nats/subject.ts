/**
 * Why `subject` cannot be published to, or null: a NATS publish subject is dot-separated
 * tokens, none empty, with no whitespace or control characters and no wildcards (`*`, `>`).
 */
export function subjectProblem(subject: string): string | null {
  if (subject.length === 0) return 'is empty';
  // eslint-disable-next-line no-control-regex
  if (/[\s\u0000-\u001f\u007f]/.test(subject)) return 'has whitespace or a control character';
  if (/[*>]/.test(subject)) return 'has a wildcard (* or >): a message is published to one subject';
  if (subject.split('.').includes('')) return 'has an empty token (a leading, trailing or double dot)';
  return null;
}

/** Why a message was not published: its rendered subject is not one NATS can publish to. */
export class SubjectError extends Error {
  constructor(subject: string, problem: string) {
    super(`subject "${subject}" ${problem}`);
    this.name = 'SubjectError';
  }
}

/** `subject`, or a `SubjectError` naming what is wrong with it. */
export function publishSubject(subject: string): string {
  const problem = subjectProblem(subject);
  if (problem) throw new SubjectError(subject, problem);
  return subject;
}
