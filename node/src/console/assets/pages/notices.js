// Notices: the list, issuing an Orange or Purple notice, and for one notice its text,
// receipts (which members hold it, since when), update and cancellation.

import { api, get } from '../api.js';
import {
  h, replace, section, table, facts, country, when, badge, form, compact, outlet, announce,
  actionButton, session, showError, refreshButton,
} from '../ui.js';

export const title = 'Notices';

const KINDS = [['orange', 'Orange: serious and imminent threat'], ['purple', 'Purple: modus operandi']];

function kindBadge(kind) {
  return badge(kind === 'orange' ? 'Orange' : kind === 'purple' ? 'Purple' : kind, kind);
}

function statusBadge(status) {
  return badge(status, status === 'active' ? 'ok' : status === 'cancelled' ? 'bad' : 'warn');
}

/** An RFC 3339 expiry from a YYYY-MM-DD date input (end of that day, UTC). */
function expiry(date) {
  return date ? `${date}T23:59:59Z` : undefined;
}

async function detail(id, box) {
  const n = await get(`/v1/notices/${encodeURIComponent(id)}`);
  const errors = outlet();
  const mine = session.status && n.issuer === session.status.bureau_id;
  const open = n.status !== 'cancelled';
  const parts = [
    h('h3', {}, kindBadge(n.kind), ' ', n.title),
    facts([
      ['Issued by', country(n.issuer_country)],
      ['Status', statusBadge(n.status)],
      ['Issued', when(n.issued_at)],
      ['Updated', when(n.updated_at)],
      ['Expires', when(n.expires_at)],
      ['Version', String(n.version)],
      n.cancelled_at ? ['Cancelled', h('span', {}, when(n.cancelled_at), ` — ${n.cancel_reason || 'no reason given'}`)] : null,
    ].filter(Boolean)),
    h('p', {}, h('strong', {}, 'Summary: '), n.summary),
    n.body ? h('p', { class: 'body' }, n.body) : null,
    h('h4', {}, 'Receipts'),
    table([
      ['Member', (a) => country(a.country)],
      ['Holds it since', (a) => when(a.at)],
    ], n.acks, { id: 'receipts', empty: 'No member has confirmed it yet.' }),
  ];
  if (mine && open) {
    parts.push(h('details', {}, h('summary', {}, 'Update this notice'),
      form([
        { name: 'title', label: 'Title', value: n.title, wide: true },
        { name: 'summary', label: 'Summary', type: 'textarea', value: n.summary, wide: true },
        { name: 'body', label: 'Details', type: 'textarea', value: n.body, wide: true },
        { name: 'expires', label: 'Expires on', type: 'date' },
      ], 'Update', 'act', async (v) => {
        await api('PATCH', `/v1/notices/${encodeURIComponent(id)}`,
          compact({ title: v.title, summary: v.summary, body: v.body, expires_at: expiry(v.expires) }));
        announce('Notice updated.', 'ok');
        await detail(id, box);
      }, { id: 'notice-update' })));
    const reason = h('input', { id: 'cancel-reason', name: 'reason', type: 'text' });
    parts.push(h('div', { class: 'panel' },
      h('label', { for: 'cancel-reason' }, 'Reason for cancelling'), ' ', reason, ' ',
      actionButton('Cancel notice', 'act', async () => {
        await api('POST', `/v1/notices/${encodeURIComponent(id)}/cancel`, { reason: reason.value.trim() });
        announce('Notice cancelled.', 'ok');
        await detail(id, box);
      }, errors, { class: 'danger', id: 'cancel-notice' }), errors));
  } else if (open) {
    parts.push(h('p', { class: 'hint' }, `Only the issuer, ${country(n.issuer_country)}, may update or cancel it.`));
  }
  replace(box, h('div', { class: 'panel', id: 'notice-detail' }, parts));
  box.scrollIntoView({ block: 'nearest' });
}

export async function render() {
  const list = outlet({ id: 'notice-list' });
  const details = outlet();
  const errors = outlet();

  async function load() {
    try {
      const notices = await get('/v1/notices');
      replace(list, table([
        ['Kind', (n) => kindBadge(n.kind)],
        ['Title', (n) => h('button', {
          type: 'button', class: 'secondary', dataset: { notice: n.id },
          onclick: () => detail(n.id, details).catch((e) => showError(errors, e)),
        }, n.title)],
        ['Issuer', (n) => country(n.issuer_country)],
        ['Status', (n) => statusBadge(n.status)],
        ['Issued', (n) => when(n.issued_at)],
        ['Expires', (n) => when(n.expires_at)],
      ], notices, { id: 'notices', empty: 'No notices.', rowData: (n) => ({ title: n.title }) }));
    } catch (e) {
      showError(errors, e);
    }
  }

  const issue = form([
    { name: 'kind', label: 'Kind', type: 'select', options: KINDS, value: 'orange' },
    { name: 'title', label: 'Title', required: true, wide: true },
    { name: 'summary', label: 'Summary', type: 'textarea', required: true, wide: true },
    { name: 'body', label: 'Details', type: 'textarea', wide: true },
    { name: 'expires', label: 'Expires on', type: 'date', hint: 'Optional; at most five years ahead.' },
  ], 'Issue notice', 'act', async (v, el) => {
    const n = await api('POST', '/v1/notices', compact({
      kind: v.kind, title: v.title, summary: v.summary, body: v.body, expires_at: expiry(v.expires),
    }));
    el.reset();
    announce(`Notice issued: ${n.title}`, 'ok');
    await load();
    await detail(n.id, details);
  }, { id: 'notice-issue' });

  await load();
  return h('div', {},
    h('h1', {}, 'Notices'),
    errors,
    section('All notices',
      refreshButton('notices-refresh', load, errors),
      list, details),
    section('Issue a notice', issue));
}
