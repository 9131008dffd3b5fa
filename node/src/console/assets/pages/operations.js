// Operations: joint operations this node takes part in: list, create (this node
// coordinates), join, seizures recorded by the participants and the report.

import { api, get } from '../api.js';
import {
  h, replace, section, table, facts, country, when, form, outlet, announce, actionButton,
  showError, codes,
} from '../ui.js';

export const title = 'Operations';

const CATEGORIES = ['firearm', 'ammunition', 'drugs', 'vehicle', 'medicine', 'other'];

function participants(o) {
  const list = o.participants || o.invited || [];
  return list.map((p) => (typeof p === 'string' ? country(p) : `${country(p.country)}${p.joined ? ' (joined)' : ''}`)).join(', ');
}

async function detail(id, box, errors) {
  const [o, seizures] = await Promise.all([
    get(`/v1/operations/${encodeURIComponent(id)}`),
    get(`/v1/operations/${encodeURIComponent(id)}/seizures`),
  ]);
  const reportBox = outlet();
  const list = Array.isArray(seizures) ? seizures : seizures.seizures || [];
  replace(box, h('div', { class: 'panel', id: 'operation-detail' },
    h('h3', {}, o.name),
    facts([
      ['Coordinator', country(o.coordinator_country || o.coordinator)],
      ['Participants', participants(o)],
      ['From', when(o.starts_at)], ['Until', when(o.ends_at)],
      ['Description', o.description || '—'],
    ]),
    h('div', { class: 'actions' },
      actionButton('Join', 'act', async () => {
        await api('POST', `/v1/operations/${encodeURIComponent(id)}/join`);
        announce('Joined the operation.', 'ok');
        await detail(id, box, errors);
      }, errors),
      actionButton('Show report', 'read', async () => {
        const r = await get(`/v1/operations/${encodeURIComponent(id)}/report`);
        replace(reportBox, facts([
          ['Arrests', String(r.arrests ?? 0)],
          ...Object.entries(r.totals || {}).map(([k, v]) => [`Seized: ${k}`, String(v)]),
        ]));
      }, errors)),
    reportBox,
    h('h4', {}, 'Seizures'),
    table([
      ['Date', (s) => when(s.date)],
      ['By', (s) => country(s.country || s.author_country)],
      ['Place', (s) => s.place || '—'],
      ['Items', (s) => (s.items || []).map((i) => `${i.count} × ${i.category}${i.description ? ` (${i.description})` : ''}`).join('; ')],
      ['Arrests', (s) => String(s.arrests ?? 0)],
    ], list, { empty: 'No seizures recorded.' }),
    h('details', {}, h('summary', {}, 'Record a seizure'),
      form([
        { name: 'date', label: 'Date', type: 'date', required: true },
        { name: 'place', label: 'Place' },
        { name: 'category', label: 'Category', type: 'select', options: CATEGORIES.map((c) => [c, c]), value: 'firearm' },
        { name: 'count', label: 'Count', type: 'number', min: 1, value: '1', required: true },
        { name: 'description', label: 'Description' },
        { name: 'arrests', label: 'Arrests', type: 'number', min: 0, value: '0' },
      ], 'Record seizure', 'act', async (v) => {
        const item = { category: v.category, count: Number(v.count) };
        if (v.description) item.description = v.description;
        const body = { date: v.date, items: [item], arrests: Number(v.arrests || 0) };
        if (v.place) body.place = v.place;
        await api('POST', `/v1/operations/${encodeURIComponent(id)}/seizures`, body);
        announce('Seizure recorded.', 'ok');
        await detail(id, box, errors);
      }))));
}

export async function render() {
  const errors = outlet();
  const list = outlet({ id: 'operations' });
  const details = outlet();

  async function load() {
    const answer = await get('/v1/operations');
    const ops = Array.isArray(answer) ? answer : answer.operations || [];
    replace(list, table([
      ['Name', (o) => h('button', { type: 'button', class: 'secondary', onclick: () => detail(o.id, details, errors).catch((e) => showError(errors, e)) }, o.name)],
      ['Coordinator', (o) => country(o.coordinator_country || o.coordinator)],
      ['Participants', participants],
      ['From', (o) => when(o.starts_at)],
      ['Until', (o) => when(o.ends_at)],
    ], ops, { empty: 'This node takes part in no operation.' }));
  }

  const create = form([
    { name: 'name', label: 'Name', required: true },
    { name: 'participants', label: 'Invite (country codes)', required: true, placeholder: 'e.g. DE, ES' },
    { name: 'starts_at', label: 'Starts on', type: 'date', required: true },
    { name: 'ends_at', label: 'Ends on', type: 'date', required: true },
    { name: 'description', label: 'Description', type: 'textarea', wide: true },
  ], 'Create operation', 'act', async (v, el) => {
    const o = await api('POST', '/v1/operations', {
      name: v.name, description: v.description, participants: codes(v.participants),
      starts_at: v.starts_at, ends_at: v.ends_at,
    });
    el.reset();
    announce(`Operation ${o.name} created; invitations sent.`, 'ok');
    await load();
  }, { id: 'operation-form' });

  await load();
  return h('div', {},
    h('h1', {}, 'Joint operations'),
    errors,
    section('Operations', list, details),
    section('Create an operation', create));
}
