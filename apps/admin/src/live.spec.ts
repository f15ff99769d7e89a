import { describe, expect, it } from '@jest/globals';
import { relativeTime, sessionsText, subjectProblem } from './live';

describe('subject rule', () => {
  it('takes 1–200 characters of letters, digits and _ - . : @ + = |', () => {
    for (const subject of ['u', 'user_123', 'org:team-7.room@eu+1=a|b', 'A'.repeat(200)]) {
      expect(subjectProblem(subject)).toBeNull();
    }
  });

  it('asks for a subject when there is none, and counts one that is too long', () => {
    expect(subjectProblem('')).toBe('Enter a subject.');
    expect(subjectProblem('a'.repeat(201))).toBe('A subject has at most 200 characters; this one has 201.');
  });

  it('names the characters it refuses, each once, and a blank by name', () => {
    expect(subjectProblem('user 1')).toBe('A subject may not contain a space.');
    expect(subjectProblem('{data.user}')).toBe('A subject may not contain "{" or "}".');
    expect(subjectProblem('a b/c d/é')).toBe('A subject may not contain a space, "/" or "é".');
    expect(subjectProblem('a\tb')).toBe('A subject may not contain a tab.');
    expect(subjectProblem('a/b#c?d%e')).toBe('A subject may not contain "/", "#", "?" or one other character.');
    expect(subjectProblem('a/b#c?d%e&f')).toBe('A subject may not contain "/", "#", "?" or 2 other characters.');
  });
});

describe('session times and counts', () => {
  const now = new Date('2026-12-01T14:30:00.000Z');

  it('tells how long ago, rounded down to its unit', () => {
    expect(relativeTime('2026-12-01T14:29:58.000Z', now)).toBe('just now');
    expect(relativeTime('2026-12-01T14:29:18.000Z', now)).toBe('42 s ago');
    expect(relativeTime('2026-12-01T14:24:01.000Z', now)).toBe('5 min ago');
    expect(relativeTime('2026-12-01T11:00:00.000Z', now)).toBe('3 h ago');
    expect(relativeTime('2026-11-29T10:00:00.000Z', now)).toBe('2 d ago');
  });

  it('says just now for a time ahead of the browser clock, and a dash for no time', () => {
    expect(relativeTime('2026-12-01T14:30:07.000Z', now)).toBe('just now');
    expect(relativeTime('not a time', now)).toBe('—');
  });

  it('counts sessions', () => {
    expect(sessionsText(0)).toBe('0 sessions');
    expect(sessionsText(1)).toBe('1 session');
    expect(sessionsText(2)).toBe('2 sessions');
  });
});
