import { Bar, BarChart, CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import type { DeliveryMetrics, MetricsBucket } from './api';
import { chartPoints, isEmptyMetrics, millisecondsText } from './health';

interface Props {
  metrics: DeliveryMetrics;
  bucket: MetricsBucket;
}

/** Colours of the series, the app's own (styles.css): delivered green, failed red, retried amber. */
const COLORS = { delivered: '#1f7a3d', failed: '#b42318', retried: '#c98a12', p50: '#2f5bd3', p95: '#8a4fd3' };

const HEIGHT = 240;

/**
 * A destination's deliveries per bucket (delivered, failed, retried, stacked bars) and the
 * latency of its delivered attempts (p50 and p95 lines), from GET /v1/metrics/deliveries.
 */
export function DeliveryChart({ metrics, bucket }: Props) {
  const range = bucket === 'minute' ? 'the last hour, per minute' : 'the last 24 hours, per hour';
  const { delivered, failed, retried } = metrics.totals;
  if (isEmptyMetrics(metrics)) {
    return <p className="muted">{`Nothing was delivered, failed or retried in ${range}.`}</p>;
  }
  const points = chartPoints(metrics);
  const tickGap = bucket === 'minute' ? 24 : 16;
  const hasLatency = points.some((point) => point.p50Ms !== null || point.p95Ms !== null);
  return (
    <>
      <div className="charts">
        <figure className="chart" aria-labelledby="chart-counts-caption">
          <figcaption id="chart-counts-caption">Deliveries ({range}, UTC)</figcaption>
          <ResponsiveContainer width="100%" height={HEIGHT}>
            <BarChart data={points} margin={{ top: 4, right: 8, bottom: 0, left: -16 }}>
              <CartesianGrid strokeDasharray="3 3" vertical={false} />
              <XAxis dataKey="label" minTickGap={tickGap} tick={{ fontSize: 12 }} />
              <YAxis allowDecimals={false} tick={{ fontSize: 12 }} />
              <Tooltip />
              <Legend />
              <Bar dataKey="delivered" name="Delivered" stackId="count" fill={COLORS.delivered} isAnimationActive={false} />
              <Bar dataKey="failed" name="Failed" stackId="count" fill={COLORS.failed} isAnimationActive={false} />

              <Bar dataKey="retried" name="Retried" stackId="count" fill={COLORS.retried} isAnimationActive={false} />
            </BarChart>
          </ResponsiveContainer>
        </figure>
        <figure className="chart" aria-labelledby="chart-latency-caption">
          <figcaption id="chart-latency-caption">Latency of delivered attempts (ms)</figcaption>
          {hasLatency ? (
            <ResponsiveContainer width="100%" height={HEIGHT}>
              <LineChart data={points} margin={{ top: 4, right: 8, bottom: 0, left: -8 }}>
                <CartesianGrid strokeDasharray="3 3" vertical={false} />
                <XAxis dataKey="label" minTickGap={tickGap} tick={{ fontSize: 12 }} />
                <YAxis tick={{ fontSize: 12 }} />
                <Tooltip formatter={(value) => millisecondsText(typeof value === 'number' ? value : null)} />
                <Legend />
                <Line dataKey="p50Ms" name="p50" stroke={COLORS.p50} dot={{ r: 2 }} connectNulls isAnimationActive={false} />
                <Line dataKey="p95Ms" name="p95" stroke={COLORS.p95} dot={{ r: 2 }} connectNulls isAnimationActive={false} />
              </LineChart>
            </ResponsiveContainer>
          ) : (
            <p className="muted">Nothing was delivered in this range: no latency to show.</p>
          )}
        </figure>
      </div>
      <p className="chart-totals">
        In {range}: <strong>{delivered}</strong> delivered, <strong>{failed}</strong> failed, <strong>{retried}</strong> retried.
      </p>
    </>
  );
}
