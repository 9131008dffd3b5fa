// Queries: cross-border serial-pattern queries for partial or obliterated serials, the
// answers members sent back, and the queries received with their review.

import { api, get } from '../api.js';
import {
  h, replace, section, table, facts, country, when, badge, form, compact, outlet, announce,
  actionButton, shortId, showError, codes,
} from '../ui.js';

export const title = 'Queries';

function answersTable(answers) {
  return table([
    ['Member', (a) => country(a.country)],
    ['Outcome', (a) => badge(String(a.outcome || '—').replace(/_/g, ' '), a.outcome === 'matches' ? 'bad' : '')],
    ['Matches', (a) => (Array.isArray(a.matches)
      ? (a.matches.length ? h('ul', {}, a.matches.map((m) => h('li', {}, `${m.make || ''} ${m.model || ''} serial ${m.serial || '?'} (${m.status || ''})`))) : 'none')
      : String(a.matches ?? '—'))],
    ['Answered', (a) => when(a.answered_at)],
    ['Note', (a) => a.note || '—'],
  ], answers, { empty: 'No answers yet.' });
}

export async function render() {
  const errors = outlet();
  const sent = outlet({ id: 'queries-sent' });
  const detail = outlet();
  const incoming = outlet({ id: 'queries-incoming' });

  async function show(id) {
    const q = await get(`/v1/queries/${encodeURIComponent(id)}`);
    replace(detail, h('div', { class: 'panel', id: 'query-detail' },
      h('h3', {}, `Query ${q.make} ${q.serial_pattern}`),
      facts([
        ['Case reference', q.case_ref], ['Reason', q.reason], ['State', q.state || '—'],
        ['Sent', when(q.created_at)],
      ]),
      answersTable(q.answers || [])));
  }

  async function load() {
    const [out, inc] = await Promise.all([get('/v1/queries'), get('/v1/queries/incoming')]);
    const list = Array.isArray(out) ? out : out.queries || [];
    replace(sent, table([
      ['Sent', (q) => when(q.created_at)],
      ['Pattern', (q) => h('button', { type: 'button', class: 'secondary', onclick: () => show(q.id).catch((e) => showError(errors, e)) }, `${q.make} ${q.serial_pattern}`)],
      ['Case reference', (q) => q.case_ref],
      ['State', (q) => q.state || '—'],
      ['Answers', (q) => String((q.answers || []).length)],
    ], list, { empty: 'This node has sent no query.' }));
    const received = Array.isArray(inc) ? inc : inc.queries || [];
    replace(incoming, table([
      ['Received', (q) => when(q.received_at)],
      ['From', (q) => country(q.country)],
      ['Asked by', (q) => q.requested_by || '—'],
      ['Case reference', (q) => q.case_ref],
      ['Pattern', (q) => `${q.make} ${q.serial_pattern}`],
      ['State', (q) => q.state || '—'],
      ['Decision', (q) => {
        if (q.state !== 'pending_review') return q.outcome || '—';
        const box = outlet();
        const decide = (verb) => async () => {
          await api('POST', `/v1/queries/incoming/${encodeURIComponent(q.id)}/${verb}`, {});
          announce(`Query ${verb === 'approve' ? 'approved' : 'refused'}.`, 'ok');
          await load();
        };
        return h('div', { class: 'actions' },
          actionButton('Approve', 'review', decide('approve'), box),
          actionButton('Refuse', 'review', decide('refuse'), box, { class: 'danger' }), box);
      }],
      ['Id', (q) => shortId(q.id)],
    ], received, { empty: 'No queries received.' }));
  }

  const send = form([
    { name: 'make', label: 'Make', required: true },
    { name: 'serial_pattern', label: 'Serial pattern', required: true, hint: '? is one unknown character, * any run of them.' },
    { name: 'model', label: 'Model' },
    { name: 'caliber', label: 'Calibre' },
    { name: 'case_ref', label: 'Case reference', required: true },
    { name: 'reason', label: 'Reason', required: true },
    { name: 'to', label: 'Only ask (country codes)', hint: 'Empty: every member.' },
  ], 'Send query', 'act', async (v, el) => {
    const body = compact({ make: v.make, serial_pattern: v.serial_pattern, model: v.model, caliber: v.caliber, case_ref: v.case_ref, reason: v.reason });
    const to = codes(v.to);
    if (to.length) body.to = to;
    const q = await api('POST', '/v1/queries', body);
    el.reset();
    announce('Query sent; answers arrive as members reply.', 'ok');
    await load();
    await show(q.id);
  }, { id: 'query-form' });

  await load();
  return h('div', {},
    h('h1', {}, 'Serial-pattern queries'),
    errors,
    h('div', { class: 'actions' }, h('button', { type: 'button', class: 'secondary', onclick: () => load().catch((e) => showError(errors, e)) }, 'Refresh')),
    section('Queries sent', sent, detail),
    section('Send a query', send),
    section('Queries received', incoming));
}
