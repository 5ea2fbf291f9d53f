/**
 * Helpers for the chart's monitoring objects: the rendered PrometheusRule and Grafana dashboard, the metric names
 * their PromQL uses, and what a guard's /metrics page declares.
 */
import * as path from 'node:path';
import { findObject, renderChart, type Rendered } from './chart';

/** Release, namespace and fullname the promtool cases in test/prometheus/ are written for. */
export const ALERT_TEST_RELEASE = { release: 'guard', namespace: 'spiderpool-guard', fullname: 'guard' };
export const ALERT_TESTS_FILE = path.resolve(__dirname, '../../prometheus/guard-alerts.test.yaml');

export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
export interface RuleGroup {
  name: string;
  rules: AlertRule[];
}

export interface DashboardPanel {
  id: number;
  type: string;
  title: string;
  targets?: { expr: string; refId: string }[];
}
export interface Dashboard {
  uid: string;
  title: string;
  panels: DashboardPanel[];
  templating: { list: { name: string; type: string; query?: unknown }[] };
}

export interface Monitoring {
  rule: Rendered;
  groups: RuleGroup[];
  dashboardConfigMap: Rendered;
  dashboard: Dashboard;
}

/** The chart rendered with both monitoring switches on (plus `set`), as the promtool cases expect it. */
export async function renderMonitoring(set: Record<string, string | number | boolean> = {}): Promise<Monitoring> {
  const { release, namespace, fullname } = ALERT_TEST_RELEASE;
  const objs = await renderChart(release, namespace, {
    fullnameOverride: fullname,
    'metrics.prometheusRule.enabled': true,
    'metrics.dashboard.enabled': true,
    ...set,
  });
  const rule = findObject(objs, 'PrometheusRule');
  const dashboardConfigMap = findObject(objs, 'ConfigMap', `${fullname}-dashboard`);
  const data = (dashboardConfigMap as { data?: Record<string, string> }).data ?? {};
  return {
    rule,
    groups: (rule as unknown as { spec: { groups: RuleGroup[] } }).spec.groups,
    dashboardConfigMap,
    dashboard: JSON.parse(data['spiderpool-guard.json'] ?? 'null') as Dashboard,
  };
}

const NOT_METRICS = new Set([
  'and',
  'or',
  'unless',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'offset',
  'bool',
  'atan2',
  'inf',
  'nan',
]);

/**
 * Metric names a PromQL expression selects (Grafana variables allowed). Strings, label matchers, ranges, label lists
 * and variables are blanked first; what is left that is neither a function call, a keyword nor part of a number or
 * duration is a metric name.
 */
export function metricNamesIn(expr: string): string[] {
  const blanked = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\{?\w+\}?/g, ' ');
  const names = new Set<string>();
  for (const m of blanked.matchAll(/(?<![\w.:])[a-zA-Z_:][\w:]*/g)) {
    const rest = blanked.slice(m.index + m[0].length);
    if (/^\s*\(/.test(rest) || NOT_METRICS.has(m[0].toLowerCase())) continue;
    names.add(m[0]);
  }
  return [...names];
}

/** The PromQL of a Grafana variable: `label_values(<selector>, label)` gives its selector. */
function variableExpr(query: unknown): string | undefined {
  const q = typeof query === 'string' ? query : (query as { query?: string } | undefined)?.query;
  if (!q) return undefined;
  const m = /^\s*label_values\((.*),\s*\w+\s*\)\s*$/.exec(q);
  return m ? m[1] : q;
}

/** Every metric name used by an alert expression, a dashboard panel or a dashboard variable, with where. */
export function monitoringMetricNames(m: Monitoring): Map<string, string[]> {
  const uses = new Map<string, string[]>();
  const add = (expr: string, where: string) => {
    for (const name of metricNamesIn(expr)) uses.set(name, [...(uses.get(name) ?? []), where]);
  };
  for (const g of m.groups) for (const r of g.rules) add(r.expr, `alert ${r.alert}`);
  for (const p of m.dashboard.panels) for (const t of p.targets ?? []) add(t.expr, `panel "${p.title}"`);
  for (const v of m.dashboard.templating.list) {
    const expr = variableExpr(v.query);
    if (v.type === 'query' && expr) add(expr, `variable $${v.name}`);
  }
  return uses;
}

/** Metric families a Prometheus text page declares (# TYPE lines): name -> type. */
export function declaredMetrics(page: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of page.matchAll(/^# TYPE (\S+) (\S+)$/gm)) out.set(m[1], m[2]);
  return out;
}

/** Whether `name` is a series name of a declared family (histogram and summary series carry suffixes). */
export function isExported(name: string, declared: Map<string, string>): boolean {
  if (declared.has(name)) return true;
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  if (!m) return false;
  const type = declared.get(m[1]);
  return type === 'histogram' || (type === 'summary' && m[2] !== 'bucket');
}
