// Analysis: network-wide figures computed at this node from the signed aggregates the
// members publish (no records are pooled). Filters, the summary as tables, the route map
// with its legs as a table, trend and breakdown charts, and the notices the node proposes
// from patterns in the figures (for an officer to review and issue). The pictures are SVG
// documents made by the node (?format=svg), fetched with the token and shown through blob
// URLs.

import { api, get, getBlob } from '../api.js';
import {
  h, replace, section, table, facts, country, form, outlet, errorBox, showBlobImage,
  actionButton, announce, badge,
} from '../ui.js';

export const title = 'Analysis';

const METRICS = [
  ['recoveries', 'Firearms recovered'],
  ['records', 'Records published'],
  ['checks', 'Checks'],
  ['hits', 'Hits'],
  ['traces_sent', 'Traces sent'],
  ['seizures', 'Seizures in operations'],
];

const BREAKDOWNS = [
  ['by_status', 'Records by status'],
  ['by_type', 'Records by type'],
  ['by_country', 'Records by country'],
];

/** "YYYY-MM" of the month `back` months before this one. */
function monthAgo(back) {
  const d = new Date();
  d.setDate(1);
  d.setMonth(d.getMonth() - back);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}`;
}

/** The query string of the filters that `keys` names, plus `extra`. */
function query(filters, keys, extra) {
  const params = new URLSearchParams();
  for (const k of keys) if (filters[k]) params.set(k, filters[k]);
  for (const [k, v] of Object.entries(extra || {})) params.set(k, v);
  const s = params.toString();
  return s ? `?${s}` : '';
}

/** The message for a failed request: a node without the analysis API says so plainly. */
function failure(e) {
  if (e && e.status === 404) {
    return h('div', { class: 'error', role: 'alert', dataset: { code: 'no_analysis' } },
      h('strong', {}, 'Not available (404): '),
      'this node does not answer the analysis API (/v1/analysis) yet. ',
      'Network figures appear once the node runs a version with analysis and members publish their aggregates.');
  }
  return errorBox(e);
}

/** The shorter message under a picture that could not be loaded. */
function pictureFailure(e) {
  if (e && e.status === 404) {
    return h('p', { class: 'hint', dataset: { code: 'no_analysis' } },
      'No picture: this node does not answer the analysis API yet (404).');
  }
  return errorBox(e);
}

/**
 * A picture from `path` (an SVG made by the node, fetched with the token) with its alt text,
 * a caption and a link to download it for a report.
 */
function picture(path, alt, caption, name) {
  const img = h('img', { class: 'chart', alt });
  const download = h('a', { class: 'hint', hidden: true, download: name }, 'Download the picture (SVG)');
  const note = h('p', { class: 'hint' }, 'Loading picture…');
  getBlob(path).then((blob) => {
    showBlobImage(img, blob);
    download.href = img.src;
    download.hidden = false;
    img.dataset.loaded = 'true';
    replace(note);
  }).catch((e) => {
    img.hidden = true;
    replace(note, pictureFailure(e));
  });
  return h('figure', { class: 'chart' }, img, note, h('figcaption', { class: 'hint' }, caption, ' ', download));
}

/** A table of one breakdown object ({key: count}), largest first. */
function breakdown(caption, counts, label) {
  const rows = Object.entries(counts || {}).sort((a, b) => b[1] - a[1]);
  return table([
    [label || 'Category', ([k]) => k],
    ['Count', ([, v]) => String(v)],
  ], rows, { caption, empty: `${caption}: nothing reported.` });
}

/** Totals of a flat object (checks, traces, ballistics) as term/value pairs. */
function totals(obj) {
  return Object.entries(obj || {}).map(([k, v]) => [k.replaceAll('_', ' '),
    typeof v === 'object' && v !== null ? Object.entries(v).map(([a, b]) => `${a}: ${b}`).join(', ') : String(v)]);
}

async function loadSummary(box, filters) {
  replace(box, h('p', { class: 'hint' }, 'Loading the summary…'));
  try {
    const s = await get(`/v1/analysis/summary${query(filters, ['from', 'to', 'country'])}`);
    const records = s.records || {};
    const period = s.period ? [s.period.from, s.period.to].filter(Boolean).join(' to ') : '—';
    replace(box,
      facts([['Members reporting', String(s.members_reporting ?? 0)], ['Period', period]]),
      h('div', { class: 'breakdowns' },
        breakdown('Records by status', records.by_status, 'Status'),
        breakdown('Records by type', records.by_type, 'Type'),
        breakdown('Records by country', Object.fromEntries(
          Object.entries(records.by_country || {}).map(([k, v]) => [country(k), v])), 'Country')),
      h('h3', {}, 'Checks'), facts(totals(s.checks)),
      h('h3', {}, 'Traces'), facts(totals(s.traces)),
      h('h3', {}, 'Ballistics'), facts(totals(s.ballistics)));
  } catch (e) {
    replace(box, failure(e));
  }
}

async function loadRoutes(box, filters) {
  replace(box, h('p', { class: 'hint' }, 'Loading the routes…'));
  const q = query(filters, ['from', 'to', 'make', 'type']);
  let answer;
  try {
    answer = await get(`/v1/analysis/routes${q}`);
  } catch (e) {
    replace(box, failure(e));
    return;
  }
  const legs = (answer.routes || []).slice().sort((a, b) => b.count - a.count);
  const map = picture(`/v1/analysis/routes${query(filters, ['from', 'to', 'make', 'type'], { format: 'svg' })}`,
    `Map of trafficking routes: ${legs.length} legs between countries, drawn as arrows weighted by the number of firearms. The legs are listed in the table beside the map.`,
    `Trafficking routes reported by ${answer.members_reporting ?? 0} member${answer.members_reporting === 1 ? '' : 's'}.`, 'routes.svg');
  replace(box, h('div', { class: 'map-layout' }, map, h('div', { class: 'legs' },
    table([
      ['From', (l) => country(l.from)],
      ['To', (l) => country(l.to)],
      ['Firearms', (l) => String(l.count)],
      ['Makes', (l) => (Array.isArray(l.makes) ? l.makes : Object.keys(l.makes || {})).join(', ') || '—'],
      ['Types', (l) => (Array.isArray(l.types) ? l.types : Object.keys(l.types || {})).join(', ') || '—'],
    ], legs, { id: 'route-legs', caption: 'Route legs, most firearms first', empty: 'No routes reported for this selection.' }))));
}

function loadTrend(box, filters, metric) {
  const label = (METRICS.find(([m]) => m === metric) || [metric, metric])[1];
  const path = `/v1/analysis/trends${query(filters, ['from', 'to'], { metric, by: 'month', format: 'svg' })}`;
  replace(box, picture(path, `Line chart: ${label} per month across the network.`, `${label} per month.`, `trend-${metric}.svg`));
}

function loadBreakdowns(box, filters) {
  replace(box, h('div', { class: 'breakdown-charts' }, BREAKDOWNS.map(([chart, label]) =>
    picture(`/v1/analysis/summary${query(filters, ['from', 'to', 'country'], { format: 'svg', chart })}`,
      `Bar chart: ${label}; the same figures are in the summary tables above.`, `${label}.`, `${chart}.svg`))));
}

/** One proposed notice: its text, the figures behind it, and a button to issue it. */
function draftPanel(draft) {
  const box = outlet();
  const issue = actionButton('Issue this notice', 'act', async () => {
    if (!window.confirm(`Issue the ${draft.kind} notice "${draft.title}" to every member?`)) return;
    const issued = await api('POST', '/v1/notices', {
      kind: draft.kind, title: draft.title, summary: draft.summary, body: draft.body,
    });
    replace(box, h('p', { class: 'hint' }, 'Issued as notice ', h('span', { class: 'mono' }, issued.id || ''), '.'));
    announce(`The ${draft.kind} notice "${draft.title}" was issued.`, 'ok');
  }, box, { class: 'issue-draft' });
  return h('article', { class: 'panel draft', dataset: { rule: draft.rule, draft: draft.id } },
    h('h3', {}, badge(draft.kind, draft.kind === 'orange' ? 'warn' : ''), ' ', draft.title),
    h('p', {}, draft.summary),
    table([
      ['Member', (e) => country(e.country)],
      ['Month', (e) => e.period],
      ['Figure', (e) => `${e.metric} ${e.key}`],
      ['Count', (e) => String(e.count)],
    ], draft.evidence, { caption: `The figures behind it (${draft.members} members)` }),
    h('details', {}, h('summary', {}, 'The proposed text'), h('pre', {}, draft.body)),
    h('div', { class: 'actions' }, issue), box);
}

async function loadDrafts(box, filters) {
  replace(box, h('p', { class: 'hint' }, 'Looking for patterns…'));
  try {
    const d = await get(`/v1/analysis/drafts${query(filters, ['to'])}`);
    replace(box, d.drafts.length === 0
      ? h('p', { class: 'hint', id: 'no-drafts' }, `No pattern in the figures of ${d.members_reporting} members crosses a threshold for ${d.period.from} to ${d.period.to}.`)
      : d.drafts.map(draftPanel));
  } catch (e) {
    replace(box, failure(e));
  }
}

export async function render() {
  const summaryBox = outlet({ id: 'analysis-summary' });
  const routesBox = outlet({ id: 'analysis-routes' });
  const trendBox = outlet({ id: 'analysis-trend' });
  const breakdownBox = outlet({ id: 'analysis-breakdowns' });
  const draftsBox = outlet({ id: 'analysis-drafts' });
  let filters = { from: monthAgo(11), to: monthAgo(0) };
  let metric = METRICS[0][0];

  function load() {
    loadSummary(summaryBox, filters);
    loadRoutes(routesBox, filters);
    loadTrend(trendBox, filters, metric);
    loadBreakdowns(breakdownBox, filters);
    loadDrafts(draftsBox, filters);
  }

  const filterForm = form([
    { name: 'from', label: 'From month', type: 'month', value: filters.from },
    { name: 'to', label: 'To month', type: 'month', value: filters.to },
    { name: 'make', label: 'Make', placeholder: 'any, e.g. Glock' },
    { name: 'type', label: 'Type', placeholder: 'any, e.g. pistol' },
    { name: 'country', label: 'Country (summary)', placeholder: 'any, e.g. DE' },
  ], 'Show', 'read', async (v) => {
    filters = { from: v.from, to: v.to, make: v.make, type: v.type, country: v.country.toUpperCase() };
    load();
  }, { id: 'analysis-filters' });

  const metricSelect = h('select', { id: 'analysis-metric' },
    METRICS.map(([value, label]) => h('option', { value }, label)));
  metricSelect.addEventListener('change', () => {
    metric = metricSelect.value;
    loadTrend(trendBox, filters, metric);
  });

  load();
  return h('div', {},
    h('h1', {}, 'Analysis'),
    h('p', { class: 'hint' }, 'Figures from the signed aggregates that members publish for their own data; ',
      'no records are pooled, and small counts are suppressed by the members before publishing.'),
    section('Filters', filterForm),
    section('Summary', summaryBox),
    section('Trafficking routes', routesBox),
    section('Trends', h('div', { class: 'field' }, h('label', { for: 'analysis-metric' }, 'Figure'), metricSelect), trendBox),
    section('Breakdowns', breakdownBox),
    section('Proposed notices', h('p', { class: 'hint' },
      'Patterns in the members\' figures that cross a threshold (a disguised firearm type reported by several members, ',
      'a route rising sharply), drafted as notices. Nothing is issued until an officer reviews a draft and issues it.'),
    draftsBox));
}
