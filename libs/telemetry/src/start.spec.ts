import { startTracing, stopTracing, tracingRequested } from './start';
import { tracingOn } from './tracing';

jest.mock('./sdk', () => ({ startSdk: jest.fn() }));

function setup() {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mocks = { sdk: require('./sdk') as { startSdk: jest.Mock }, stop: jest.fn(async () => undefined) };
  mocks.sdk.startSdk.mockReset().mockReturnValue(mocks.stop);
  return { mocks };
}

afterEach(() => stopTracing());

describe('tracingRequested', () => {
  it('is on only with OTEL_EXPORTER_OTLP_ENDPOINT, unless the SDK is disabled', () => {
    expect(tracingRequested({})).toBe(false);
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: '  ' })).toBe(false);
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' })).toBe(false);
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe(true);
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'true' })).toBe(false);
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'false' })).toBe(true);
  });
});

describe('startTracing', () => {
  it('stops without failing when the last spans cannot be sent', async () => {
    const { mocks } = setup();
    mocks.stop.mockRejectedValueOnce(new Error('connect ECONNREFUSED 127.0.0.1:4318'));
    startTracing('dispatch-worker', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' });
    await expect(stopTracing()).resolves.toBeUndefined();
    expect(mocks.stop).toHaveBeenCalledTimes(1);
  });

  it('stops after 5 s at most when the collector does not answer', async () => {
    jest.useFakeTimers();
    try {
      const { mocks } = setup();
      mocks.stop.mockReturnValueOnce(new Promise<undefined>(() => undefined));
      startTracing('dispatch-worker', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' });
      const stopped = jest.fn();
      const stopping = stopTracing().then(stopped);
      await jest.advanceTimersByTimeAsync(4_999);
      expect(stopped).not.toHaveBeenCalled();
      await jest.advanceTimersByTimeAsync(1);
      await stopping;
      expect(stopped).toHaveBeenCalled();
    } finally {
      jest.useRealTimers();
    }
  });

  it('loads no SDK and leaves the helpers off without an endpoint', () => {
    const { mocks } = setup();
    expect(startTracing('dispatch-api', {})).toBe(false);
    expect(mocks.sdk.startSdk).not.toHaveBeenCalled();
    expect(tracingOn()).toBe(false);
  });

  it('starts the SDK once with the default service name, which OTEL_SERVICE_NAME or service.name in OTEL_RESOURCE_ATTRIBUTES overrides', async () => {
    const { mocks } = setup();
    expect(startTracing('dispatch-api', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe(true);
    expect(startTracing('dispatch-api', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe(true);
    expect(mocks.sdk.startSdk.mock.calls).toEqual([['dispatch-api']]);
    expect(tracingOn()).toBe(true);
    await stopTracing();
    expect(mocks.stop).toHaveBeenCalledTimes(1);
    expect(tracingOn()).toBe(false);

    startTracing('dispatch-api', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SERVICE_NAME: 'dispatch-eu' });
    await stopTracing();
    startTracing('dispatch-worker', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=prod,service.name=dw' });
    expect(mocks.sdk.startSdk.mock.calls.slice(1)).toEqual([[undefined], [undefined]]);
  });
});
