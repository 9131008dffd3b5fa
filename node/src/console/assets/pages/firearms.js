// Firearms: check a firearm against every member's digests (verdict, hits, make
// suggestions), this node's records (list, add, import a CSV/NDJSON file with upload
// progress) and starting a trace.

import { api, get, upload } from '../api.js';
import {
  h, replace, section, table, facts, country, when, badge, form, compact, outlet, announce,
  codes, shortId, can, needs,
} from '../ui.js';

export const title = 'Firearms';

const STATUSES = ['stolen', 'lost', 'trafficked', 'smuggled', 'seized', 'recovered', 'closed'];

const VERDICTS = {
  hits: ['Hits: members hold a record of this firearm', 'bad'],
  no_record: ['No record held by any member', 'ok'],
  inconclusive: ['Inconclusive: the make is not in the reference table', 'warn'],
};

function hitsTable(hits, id) {
  return table([
    ['Member', (x) => country(x.country)],
    ['Status', (x) => badge(x.status, 'bad')],
    ['Match', (x) => (x.match === 'exact' ? 'exact' : 'confusable characters')],
    ['Record reference', (x) => shortId(x.record_ref)],
  ], hits, { id, empty: 'No hits.' });
}

function traceForm(prefill, done) {
  return form([
    { name: 'make', label: 'Make', required: true, value: prefill.make || '' },
    { name: 'serial', label: 'Serial number', required: true, value: prefill.serial || '' },
    { name: 'model', label: 'Model', value: prefill.model || '' },
    { name: 'caliber', label: 'Calibre', value: prefill.caliber || '' },
    { name: 'case_ref', label: 'Case reference', required: true },
    { name: 'reason', label: 'Reason', required: true, wide: true },
    { name: 'to', label: 'Also ask (country codes)', placeholder: 'e.g. ES, IT', hint: 'Members holding a hit and the country of manufacture are asked anyway.' },
  ], 'Start trace', 'act', async (v) => {
    const body = compact({ make: v.make, serial: v.serial, model: v.model, caliber: v.caliber, case_ref: v.case_ref, reason: v.reason });
    const to = codes(v.to);
    if (to.length) body.to = to;
    const answer = await api('POST', '/v1/traces', body);
    announce('Trace started.', 'ok');
    done(answer.id);
  }, { id: prefill.formId || 'trace-form' });
}

function checkResult(result, box, query) {
  const [label, kind] = VERDICTS[result.verdict] || [result.verdict, 'warn'];
  const parts = [
    h('p', {}, h('span', { class: `badge verdict ${kind}`, id: 'check-verdict', dataset: { verdict: result.verdict } }, label)),
    facts([
      ['Make as checked', `${result.make}${result.make_known ? '' : ' (not in the reference table)'}${result.make_ambiguous ? ' (ambiguous)' : ''}`],
      ['Serial as compared', h('span', { class: 'mono' }, result.serial)],
    ]),
  ];
  if (result.make_suggestions && result.make_suggestions.length) {
    parts.push(h('p', { class: 'suggestions', id: 'check-suggestions' }, 'Did you mean: ',
      result.make_suggestions.map((s, i) => [i ? ', ' : '', h('strong', {}, typeof s === 'string' ? s : (s.name || s.canonical || JSON.stringify(s)))]), '?'));
  }
  parts.push(h('h3', {}, `Hits (${result.hits.length})`), hitsTable(result.hits, 'check-hits'));
  for (const s of result.suggestion_hits || []) {
    parts.push(h('h3', {}, `Under the make ${s.make}: ${s.hits.length} hit(s)`), hitsTable(s.hits, null));
  }
  if (result.hits.length || (result.suggestion_hits || []).some((s) => s.hits.length)) {
    const traceBox = outlet();
    parts.push(h('details', { id: 'trace-from-check' }, h('summary', {}, 'Trace this firearm'),
      can('act') ? traceForm({ make: query.make, serial: query.serial, formId: 'check-trace' }, (id) => {
        replace(traceBox, h('p', {}, 'Trace started: ', h('a', { href: `#/traces?id=${id}` }, 'follow it under Traces'), '.'));
      }) : h('p', { class: 'hint' }, needs('act')), traceBox));
  }
  replace(box, h('div', { class: 'panel', id: 'check-result' }, parts));
}

export async function render() {
  const checkBox = outlet();
  const check = form([
    { name: 'make', label: 'Make', required: true },
    { name: 'serial', label: 'Serial number', required: true },
  ], 'Check', 'read', async (v) => {
    const result = await api('POST', '/v1/firearms/check', { make: v.make, serial: v.serial });
    checkResult(result, checkBox, v);
    announce(`Check: ${result.verdict.replace('_', ' ')}, ${result.hits.length} hit(s).`, result.verdict === 'hits' ? 'error' : result.verdict === 'inconclusive' ? 'info' : 'ok');
  }, { id: 'check-form' });

  const records = outlet({ id: 'records' });
  async function loadRecords() {
    const r = await get('/v1/firearms?limit=100');
    replace(records,
      h('p', { class: 'hint' }, `${r.total} record(s) on this node; the first ${r.records.length} shown.`),
      table([
        ['Make', (x) => x.make],
        ['Model', (x) => x.model],
        ['Calibre', (x) => x.caliber],
        ['Type', (x) => x.type],
        ['Serial', (x) => h('span', { class: 'mono' }, x.serial)],
        ['Status', (x) => badge(x.status, x.announced ? 'bad' : '')],
        ['Made in', (x) => country(x.country_of_manufacture)],
        ['Case reference', (x) => x.case_ref || '—'],
        ['Updated', (x) => when(x.updated_at || x.created_at)],
      ], r.records, { id: 'records-table', empty: 'No records on this node yet.' }));
  }

  const add = form([
    { name: 'make', label: 'Make', required: true },
    { name: 'model', label: 'Model', required: true },
    { name: 'caliber', label: 'Calibre', required: true },
    { name: 'serial', label: 'Serial number', required: true },
    { name: 'type', label: 'Type', required: true, value: 'pistol' },
    { name: 'status', label: 'Status', type: 'select', options: STATUSES.map((s) => [s, s]), value: 'stolen' },
    { name: 'event_date', label: 'Date of the event', type: 'date' },
    { name: 'case_ref', label: 'Case reference' },
    { name: 'country_of_manufacture', label: 'Country of manufacture (code)' },
    { name: 'notes', label: 'Notes', type: 'textarea', wide: true },
  ], 'Add record', 'act', async (v, el) => {
    const body = compact(v);
    if (body.country_of_manufacture) body.country_of_manufacture = body.country_of_manufacture.toUpperCase();
    const r = await api('POST', '/v1/firearms', body);
    el.reset();
    announce(`Record added: ${r.make} ${r.model}, serial ${r.serial}.`, 'ok');
    await loadRecords();
  }, { id: 'record-form' });

  const progress = h('progress', { id: 'import-progress', max: 100, value: 0, hidden: true, 'aria-label': 'Upload progress' });
  const importBox = outlet({ id: 'import-result' });
  const importForm = form([
    { name: 'file', label: 'CSV or NDJSON file', type: 'file', accept: '.csv,.ndjson,.jsonl,text/csv,application/x-ndjson', required: true },
    { name: 'format', label: 'Format', type: 'select', options: [['auto', 'by file name'], ['csv', 'CSV'], ['ndjson', 'NDJSON']], value: 'auto' },
  ], 'Import', 'act', async (v) => {
    if (!v.file) throw new Error('Choose a file first.');
    const ndjson = v.format === 'ndjson' || (v.format === 'auto' && /\.(nd)?jsonl?$/i.test(v.file.name));
    progress.hidden = false;
    progress.value = 0;
    replace(importBox, h('p', {}, `Sending ${v.file.name}…`));
    const r = await upload('POST', '/v1/firearms/import', v.file, ndjson ? 'application/x-ndjson' : 'text/csv', (loaded, total) => {
      progress.value = total ? Math.round((100 * loaded) / total) : 0;
      if (loaded >= total) replace(importBox, h('p', {}, 'Uploaded; the node is importing and announcing the records…'));
    });
    progress.value = 100;
    replace(importBox, h('div', { class: 'panel' },
      h('p', {}, h('strong', {}, `${r.imported} imported`), `, ${r.rejected_total} refused, ${r.announced} announced${r.repeated ? ' (this file had been imported before)' : ''}.`),
      table([['Line', (x) => String(x.line)], ['Why refused', (x) => x.error]], r.rejected, { empty: 'Every line was imported.' })));
    announce(`Import: ${r.imported} imported, ${r.rejected_total} refused.`, r.rejected_total ? 'error' : 'ok');
    await loadRecords();
  }, { id: 'import-form' });

  const traceBox = outlet();
  await loadRecords();
  return h('div', {},
    h('h1', {}, 'Firearms'),
    section('Check a firearm', h('p', { class: 'hint' }, 'Answered from the digests this node holds: no query leaves it.'), check, checkBox),
    section('Start a trace', traceForm({}, (id) => replace(traceBox, h('p', {}, 'Trace started: ', h('a', { href: `#/traces?id=${id}` }, 'follow it under Traces'), '.'))), traceBox),
    section('Records on this node', records),
    section('Add a record', add),
    section('Import records', h('p', { class: 'hint' }, 'A CSV file with a header row of field names, or NDJSON (one record per line), up to 64 MiB.'), importForm, progress, importBox));
}
