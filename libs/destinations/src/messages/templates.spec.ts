import { renderTemplate, TemplateError, templateSchema } from './templates';

function setup() {
  const context = {
    organizationId: 'org_1',
    event: { id: 'evt_9', type: 'order.paid', data: { device: { id: 'd-7' }, count: 3, flag: true, nested: { a: 1 }, empty: null } },
  };
  return { sut: renderTemplate, context };
}

describe('broker templates: where a message goes, filled from the event', () => {
  it('fills {event.type}, {event.id}, {organization} and {data.<path>} with strings, numbers and booleans', () => {
    const { sut, context } = setup();
    expect(sut('orgs/{organization}/{event.type}/{event.id}', context)).toBe('orgs/org_1/order.paid/evt_9');
    expect(sut('devices/{data.device.id}/{data.count}/{data.flag}', context)).toBe('devices/d-7/3/true');
    expect(sut('plain', context)).toBe('plain');
  });

  it('refuses a missing, null or object value, naming the placeholder', () => {
    const { sut, context } = setup();
    expect(() => sut('x/{data.device.serial}', context)).toThrow(new TemplateError("the event's data has no value at {data.device.serial}"));
    expect(() => sut('x/{data.empty}', context)).toThrow("the event's data has no value at {data.empty}");
    expect(() => sut('x/{data.nested}', context)).toThrow('{data.nested} is not a string, number or boolean');
  });

  it('validates a template in a config: unknown placeholders and stray braces are named', () => {
    const schema = templateSchema('topic');
    expect(schema.safeParse('devices/{data.device_id}/events').success).toBe(true);
    expect(schema.safeParse('{event.type}.{organization}').success).toBe(true);
    expect(schema.safeParse('x/{event.data}').error?.issues[0].message).toBe(
      'topic template has unknown placeholder {event.data}; use {event.type}, {event.id}, {organization} or {data.<path>}',
    );
    expect(schema.safeParse('x/{data}').success).toBe(false);
    expect(schema.safeParse('x/{event.type').error?.issues[0].message).toBe('topic template has an unmatched brace');
    expect(schema.safeParse('').success).toBe(false);
  });
});
