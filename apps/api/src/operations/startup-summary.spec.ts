import { apiSummary, apiUrl } from './startup-summary';

const summary = { url: 'https://dispatch.example.com', adminApp: true, kinds: ['webhook', 'mqtt'] };

describe('the API start-up summary', () => {
  it('is lines one under the other for people', () => {
    expect(apiSummary('pretty', summary)).toEqual({
      msg: [
        'Dispatch API on https://dispatch.example.com',
        '  Admin app  https://dispatch.example.com/',
        '  API        https://dispatch.example.com/v1 (OpenAPI: https://dispatch.example.com/docs)',
        '  Queues     https://dispatch.example.com/queues (Bull Board: any user, the admin key as password)',
        '  Metrics    https://dispatch.example.com/metrics',
        '  Kinds      webhook, mqtt',
      ].join('\n'),
    });
  });

  it('is one message and fields as JSON, and says when the admin app is not built', () => {
    expect(apiSummary('json', { ...summary, adminApp: false })).toEqual({
      msg: 'Dispatch API on https://dispatch.example.com',
      url: 'https://dispatch.example.com',
      admin: null,
      docs: 'https://dispatch.example.com/docs',
      queues: 'https://dispatch.example.com/queues',
      metrics: 'https://dispatch.example.com/metrics',
      kinds: ['webhook', 'mqtt'],
    });
    expect(apiSummary('pretty', { ...summary, adminApp: false }).msg).toContain('Admin app  not built (npm run build)');
  });

  it('names the public URL, or with PORT=0 the port the API got', () => {
    expect(apiUrl({ port: 3000, publicUrl: 'https://dispatch.example.com' }, 3000)).toBe('https://dispatch.example.com');
    expect(apiUrl({ port: 0, publicUrl: 'http://localhost:0' }, 41234)).toBe('http://127.0.0.1:41234');
  });
});
