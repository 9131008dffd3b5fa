// Traces: the traces this node sent (with each member's signed answer), the requests it
// received, and the review queue where reviewers approve or refuse a disclosure.

import { api, get } from '../api.js';
import {
  h, replace, section, table, facts, country, when, badge, outlet, announce, actionButton,
  shortId, showError, refreshButton,
} from '../ui.js';

export const title = 'Traces';

const OUTCOME = { found: 'bad', not_found: 'ok', refused: 'warn', pending_review: 'warn' };

function outcome(o) {
  return o ? badge(o.replace('_', ' '), OUTCOME[o] || '') : '—';
}

function traceDetail(t) {
  return h('div', { class: 'panel', id: 'trace-detail' },
    h('h3', {}, `Trace of ${t.make} ${t.serial}`),
    facts([
      ['State', badge(t.state, t.state === 'complete' ? 'ok' : 'warn')],
      ['Case reference', t.case_ref],
      ['Reason', t.reason],
      ['Started', when(t.created_at)],
    ]),
    h('h4', {}, 'Asked'),
    table([
      ['Member', (a) => country(a.country)],
      ['Why', (a) => a.why],
      ['Answered', (a) => (a.answered ? 'yes' : `not yet (${a.attempts} attempt(s))`)],
      ['Last error', (a) => a.last_error || '—'],
    ], t.asked),
    h('h4', {}, 'Answers'),
    table([
      ['Member', (r) => country(r.country)],
      ['Outcome', (r) => outcome(r.outcome)],
      ['Record', (r) => (r.record ? `${r.record.make || ''} ${r.record.model || ''} ${r.record.serial || ''} (${r.record.status || ''})` : '—')],
      ['History', (r) => (r.history && r.history.length
        ? h('ul', {}, r.history.map((e) => h('li', {}, when(e.date), ` ${e.event}: ${e.party} `, country(e.country))))
        : '—')],
      ['Signature', (r) => (r.signature_valid ? badge('valid', 'ok') : badge('invalid', 'bad'))],
      ['Answered', (r) => when(r.answered_at)],
      ['Note', (r) => r.note || '—'],
    ], t.responses, { id: 'trace-answers', empty: 'No answer yet.' }));
}

export async function render() {
  const errors = outlet();
  const sent = outlet({ id: 'traces-sent' });
  const detail = outlet();
  const queue = outlet({ id: 'review-queue' });
  const incoming = outlet({ id: 'traces-incoming' });

  async function show(id) {
    try {
      replace(detail, traceDetail(await get(`/v1/traces/${encodeURIComponent(id)}`)));
    } catch (e) {
      showError(errors, e);
    }
  }

  async function load() {
    const [out, pending, all] = await Promise.all([
      get('/v1/traces?limit=100'),
      get('/v1/traces/incoming?state=pending_review'),
      get('/v1/traces/incoming?limit=100'),
    ]);
    replace(sent, table([
      ['Started', (t) => when(t.created_at)],
      ['Firearm', (t) => h('button', { type: 'button', class: 'secondary', onclick: () => show(t.id) }, `${t.make} ${t.serial}`)],
      ['Case reference', (t) => t.case_ref],
      ['State', (t) => badge(t.state, t.state === 'complete' ? 'ok' : 'warn')],
      ['Answers', (t) => t.responses.map((r) => [country(r.country), ': ', outcome(r.outcome), ' ']) ],
    ], out, { id: 'traces-sent-table', empty: 'This node has sent no trace.' }));
    replace(queue, table([
      ['Received', (t) => when(t.received_at)],
      ['From', (t) => country(t.country)],
      ['Asked by', (t) => t.requested_by || '—'],
      ['Case reference', (t) => t.case_ref],
      ['Reason', (t) => t.reason],
      ['Firearm', (t) => `${t.make} ${t.model || ''} ${t.serial}`],
      ['Records', (t) => String(t.records.length)],
      ['Decision', (t) => {
        const box = outlet();
        const note = h('input', { id: `note-${t.id}`, type: 'text', name: 'note' });
        const decide = (verb) => async () => {
          await api('POST', `/v1/traces/incoming/${encodeURIComponent(t.id)}/${verb}`, { note: note.value.trim() });
          announce(`Trace from ${country(t.country)} ${verb === 'approve' ? 'approved' : 'refused'}.`, 'ok');
          await load();
        };
        return h('div', { class: 'decision', dataset: { trace: t.id } },
          h('label', { for: `note-${t.id}` }, 'Note'), ' ', note,
          h('div', { class: 'actions' },
            actionButton('Approve', 'review', decide('approve'), box, { class: 'approve' }),
            actionButton('Refuse', 'review', decide('refuse'), box, { class: 'danger refuse' })),
          box);
      }],
    ], pending, { id: 'review-table', empty: 'No request waits for review.', rowData: (t) => ({ trace: t.id }) }));
    replace(incoming, table([
      ['Received', (t) => when(t.received_at)],
      ['From', (t) => country(t.country)],
      ['Asked by', (t) => t.requested_by || '—'],
      ['Case reference', (t) => t.case_ref],
      ['Firearm', (t) => `${t.make} ${t.serial}`],
      ['State', (t) => String(t.state || '—').replace(/_/g, ' ')],
      ['Answer', (t) => outcome(t.outcome)],
      ['Answered', (t) => when(t.answered_at)],
      ['Note', (t) => t.note || '—'],
      ['Id', (t) => shortId(t.id)],
    ], all, { id: 'incoming-table', empty: 'No requests received.' }));
  }

  await load();
  const wanted = (window.location.hash.match(/[?&]id=([0-9a-f]+)/) || [])[1];
  if (wanted) await show(wanted);
  return h('div', {},
    h('h1', {}, 'Traces'),
    errors,
    refreshButton('traces-refresh', load, errors),
    section('Review queue', h('p', { class: 'hint' }, 'Requests from other members that found records here and wait for a reviewer before anything is disclosed.'), queue),
    section('Traces sent', sent, detail),
    section('Requests received', incoming));
}
