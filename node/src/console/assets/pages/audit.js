// Audit: this node's signed, hash-chained log of every request and disclosure that crossed a
// border, naming the user who acted, and its verification.

import { get } from '../api.js';
import { h, replace, section, table, country, when, outlet, announce, actionButton, facts, badge } from '../ui.js';

export const title = 'Audit';

const PAGE = 1000;

function summary(r) {
  const d = r.details || {};
  const parts = [];
  for (const k of ['case_ref', 'make', 'serial', 'serial_pattern', 'decision', 'outcome', 'note']) {
    if (d[k] !== undefined && d[k] !== null && d[k] !== '') parts.push(`${k.replace('_', ' ')}: ${d[k]}`);
  }
  return parts.join(' · ') || '—';
}

export async function render() {
  const errors = outlet();
  const verdict = outlet({ id: 'audit-verify' });
  // Pages of 1,000 from the start, keeping the newest 1,000 (at most 100 pages are read).
  let list = [];
  let from = 1;
  for (let pages = 0; pages < 100; pages += 1) {
    const page = await get(`/v1/audit?from=${from}&limit=${PAGE}`);
    list = list.concat(page).slice(-PAGE);
    if (page.length < PAGE) break;
    from = page[page.length - 1].seq + 1;
  }
  list.reverse();
  return h('div', {},
    h('h1', {}, 'Audit log'),
    errors,
    section('Verification',
      h('p', { class: 'hint' }, 'Checks every record\u2019s signature and hash chain, and the head anchored in this node\u2019s feed.'),
      actionButton('Verify the log', 'read', async () => {
        const v = await get('/v1/audit/verify');
        const ok = v.ok;
        replace(verdict, h('div', { class: 'panel' },
          h('p', {}, ok === false ? badge('The log does NOT verify', 'bad') : badge('The log verifies', 'ok')),
          facts([['Records checked', String(v.entries)]]),
          table([['#', (p) => String(p.seq)], ['Problem', (p) => p.problem]], v.problems, { empty: 'No problem found.' })));
        announce(ok === false ? 'The audit log does not verify.' : 'The audit log verifies.', ok === false ? 'error' : 'ok');
      }, errors, { id: 'audit-verify-button' }),
      verdict),
    section(`The newest ${list.length} records, newest first`,
      table([
        ['#', (r) => String(r.seq)],
        ['When', (r) => when(r.at)],
        ['Action', (r) => h('span', { class: 'mono' }, r.action)],
        ['Direction', (r) => (r.direction === 'in' ? 'received' : r.direction === 'out' ? 'sent' : String(r.direction || '—'))],
        ['Member', (r) => country(r.peer_country)],
        ['Subject', (r) => h('span', { class: 'mono', title: r.subject }, String(r.subject || '').slice(0, 12))],
        ['User', (r) => (r.user ? `${r.user.name}` : '— (the node)')],
        ['Asked by', (r) => {
          const by = r.details && r.details.requested_by;
          if (!by) return '—';
          // Received: the other bureau's own reference for its user; sent: ours.
          return r.direction === 'in' ? [by, ' at ', country(r.peer_country)] : by;
        }],
        ['About', summary],
      ], list, { id: 'audit-table', empty: 'No records yet.', rowData: (r) => ({ action: r.action, user: r.user ? r.user.name : '' }) })));
}
