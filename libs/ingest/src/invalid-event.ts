import type { FieldProblem } from '@dispatch/domain';

/** An event that can never be accepted as sent (an unknown destination…), with each field that is wrong. */
export class InvalidEvent extends Error {
  constructor(readonly problems: FieldProblem[]) {
    super(problems.map((problem) => (problem.path ? `${problem.path}: ${problem.message}` : problem.message)).join('; '));
    this.name = 'InvalidEvent';
  }
}
