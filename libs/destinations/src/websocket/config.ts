import { z } from 'zod';
import { templateSchema } from '../messages';
import { liveSubjectProblem } from './subject';

// A template whose placeholders are filled with a plain value must make a valid subject.
const subject = templateSchema('subject').superRefine((template, ctx) => {
  const problem = liveSubjectProblem(template.replace(/\{[^{}]*\}/g, 'x'));
  if (problem) ctx.addIssue({ code: 'custom', message: `subject template ${problem}` });
});

export const websocketConfigSchema = z
  .object({
    subject: subject.describe('Whose live sessions receive each event: {data.<path>}, {event.type}, {event.id}, {organization}').meta({ examples: ['{data.user_id}'] }),
  })
  .strict();

/** A websocket destination's config. */
export type WebsocketConfig = z.output<typeof websocketConfigSchema>;
