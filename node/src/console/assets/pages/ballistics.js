// Ballistics: this node's exhibits (upload an X3P scan with progress, its preview picture),
// searches with the holders' confirmations and comparison pictures, and leads with the case
// references of the exhibits they concern.

import { api, get, getBlob, upload } from '../api.js';
import {
  h, replace, section, table, facts, country, when, badge, form, outlet, announce,
  actionButton, shortId, showBlobImage, refreshButton,
} from '../ui.js';

export const title = 'Ballistics';

const CONFIRMATION = {
  confirmed: 'ok', not_confirmed: '', not_requested: '', holder_offline: 'warn',
  holder_failed: 'warn', holder_refused: 'warn', unknown_exhibit: 'warn', not_comparable: '',
};

/** An <img> filled from `path` (fetched with the token), with a caption and alt text. */
function picture(path, alt, id) {
  const img = h('img', { class: 'scan', alt, id: id || null });
  const note = h('p', { class: 'hint' }, 'Loading picture…');
  getBlob(path).then((blob) => {
    showBlobImage(img, blob);
    img.dataset.loaded = 'true';
    replace(note);
  }).catch((e) => {
    replace(note, h('span', { class: 'error', role: 'alert' }, `No picture: ${e.message}`));
  });
  return h('figure', {}, img, note, h('figcaption', { class: 'hint' }, alt));
}

function searchResults(probe, result, prefix) {
  const id = (name) => `${prefix || 'search'}-${name}`;
  const candidates = result.candidates || [];
  const confirmed = candidates.filter((c) => c.confirmed);
  return h('div', { class: 'panel', id: id('result') },
    h('h3', {}, probe.id ? `Search with exhibit ${probe.case_ref || ''}` : `Search with the file ${probe.name}`),
    facts([
      ['Digests screened', String(result.digests_held)],
      ['Confirmed matches', h('strong', { id: id('confirmed') }, String(confirmed.length))],
      ['Threshold', result.confirm_threshold ? `${result.confirm_threshold} congruent cells` : '—'],
    ]),
    table([
      ['Rank', (c) => String(c.rank)],
      ['Held by', (c) => (c.own ? `this node` : country(c.country))],
      ['Exhibit', (c) => shortId(c.exhibit_ref)],
      ['Screening', (c) => (typeof c.screen_score === 'number' ? c.screen_score.toFixed(3) : '—')],
      ['Comparison', (c) => {
        if (c.cmc_count !== undefined) return `${c.cmc_count}${c.cells_compared ? ` of ${c.cells_compared}` : ''} congruent cells`;
        if (typeof c.score === 'number') {
          const lands = (c.matched_lands || []).map(([p, q]) => `${p}\u2194${q}`).join(', ');
          return `score ${c.score.toFixed(3)}${lands ? `, lands ${lands}` : ''}`;
        }
        return '—';
      }],
      ['Result', (c) => badge(c.confirmation.replace(/_/g, ' '), CONFIRMATION[c.confirmation] ?? '')],
      ['Signature', (c) => (c.signature_valid === undefined ? '—' : c.signature_valid ? badge('valid', 'ok') : badge('invalid', 'bad'))],
      ['Detail', (c) => c.detail || '—'],
    ], candidates, { id: id('candidates'), empty: 'No candidates.', rowData: (c) => ({ confirmation: c.confirmation }) }),
    !probe.id && confirmed.length
      ? h('p', { class: 'hint' }, 'Comparison pictures are drawn for exhibits kept on this node: add the scan as an exhibit and search with it to see why it matches.')
      : null,
    (probe.id ? confirmed.slice(0, 3) : []).map((c) => h('div', { class: 'comparison' },
      h('h4', {}, `Why it matches: ${c.own ? 'this node' : country(c.country)}${c.cmc_count !== undefined ? `, ${c.cmc_count} congruent cells` : ''}`),
      picture(`/v1/ballistics/${encodeURIComponent(probe.id)}/comparisons/${encodeURIComponent(c.exhibit_ref)}/image`,
        probe.kind === 'bullet' ? 'Matched lands of both bullets at their best alignment (ours blue, theirs orange)' : `Comparison of our exhibit (P) with the holder's (H), congruent cells outlined`, `comparison-${c.exhibit_ref}`))));
}

export async function render() {
  const errors = outlet();
  const list = outlet({ id: 'exhibits' });
  const work = outlet({ id: 'exhibit-work' });
  const leadsBox = outlet({ id: 'leads' });
  let exhibits = [];

  async function search(x) {
    replace(work, h('p', {}, `Searching with ${x.case_ref}: screening every member's digests, then asking the holders to confirm…`));
    const result = await api('POST', `/v1/ballistics/${encodeURIComponent(x.id)}/search`);
    replace(work, searchResults(x, result));
    announce(`Search: ${(result.candidates || []).filter((c) => c.confirmed).length} confirmed match(es).`, 'ok');
  }

  function preview(x) {
    replace(work, h('div', { class: 'panel', id: 'exhibit-preview' },
      h('h3', {}, `Exhibit ${x.case_ref}`),
      facts([
        ['Kind', x.kind.replace('_', ' ')],
        ['Calibre', `${x.caliber} (${x.caliber_class})`],
        ['Added', when(x.created_at)],
        ['Status', x.status],
        ['Exhibit reference', h('span', { class: 'mono' }, x.exhibit_ref || x.id)],
      ]),
      picture(`/v1/ballistics/${encodeURIComponent(x.id)}/image`, `Prepared surface of ${x.case_ref} in false colour`, 'preview-image'),
      h('div', { class: 'actions' }, actionButton('Search the network with it', 'read', () => search(x), errors, { id: 'search-exhibit' }))));
  }

  async function load() {
    const answer = await get('/v1/ballistics');
    exhibits = Array.isArray(answer) ? answer : answer.exhibits || [];
    replace(list, table([
      ['Case reference', (x) => x.case_ref],
      ['Kind', (x) => x.kind.replace('_', ' ')],
      ['Calibre', (x) => x.caliber],
      ['Status', (x) => x.status],
      ['Added', (x) => when(x.created_at)],
      ['', (x) => h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'secondary', onclick: () => preview(x) }, 'Preview'),
        actionButton('Search', 'read', () => search(x), errors, { class: 'secondary' }))],
    ], exhibits, { id: 'exhibits-table', empty: 'No exhibits on this node.', rowData: (x) => ({ exhibit: x.id }) }));
    const caseOf = Object.fromEntries(exhibits.map((x) => [x.id, x.case_ref]));
    const leads = await get('/v1/ballistics/leads?limit=200');
    replace(leadsBox, table([
      ['Found', (l) => when(l.found_at)],
      ['Our case', (l) => caseOf[l.local_exhibit] || shortId(l.local_exhibit)],
      ['Held by', (l) => country(l.country)],
      ['Their exhibit', (l) => shortId(l.exhibit_ref)],
      ['Screening', (l) => (typeof l.screen_score === 'number' ? l.screen_score.toFixed(3) : '—')],
      ['Congruent cells', (l) => (l.cmc_count !== undefined && l.cmc_count !== null ? String(l.cmc_count) : '—')],
      ['State', (l) => badge((l.confirmation || l.state || '').replace(/_/g, ' '), CONFIRMATION[l.confirmation] ?? 'warn')],
      ['', (l) => (l.confirmation === 'proposed' || l.state === 'proposed'
        ? actionButton('Approve confirmation', 'review', async () => {
          await api('POST', `/v1/ballistics/leads/${encodeURIComponent(l.id)}/approve`);
          announce('Lead approved: the holder is asked to confirm.', 'ok');
          await load();
        }, errors)
        : null)],
    ], leads, { id: 'leads-table', empty: 'No leads yet.' }));
  }

  const progress = h('progress', { id: 'scan-progress', max: 100, value: 0, hidden: true, 'aria-label': 'Upload progress' });
  const add = form([
    { name: 'file', label: 'X3P scan (a bullet: its 3 to 12 land files)', type: 'file', accept: '.x3p', required: true, multiple: true },
    { name: 'kind', label: 'Kind', type: 'select', options: [['cartridge_case', 'cartridge case'], ['bullet', 'bullet']], value: 'cartridge_case' },
    { name: 'caliber', label: 'Calibre', required: true, placeholder: 'e.g. 9x19' },
    { name: 'case_ref', label: 'Case reference', required: true },
    { name: 'share', label: 'Share with', type: 'select', options: [['', 'the node\u2019s default'], ['network', 'every member'], ['local', 'nobody (this node only)']], value: '' },
  ], 'Upload', 'act', async (v, el) => {
    if (!v.file) throw new Error('Choose an X3P file first.');
    const params = new URLSearchParams({ kind: v.kind, caliber: v.caliber, case_ref: v.case_ref });
    if (v.share) params.set('share', v.share);
    let body = v.file;
    let type = 'application/octet-stream';
    if (v.kind === 'bullet') {
      // One part per land, in land order (numbers in names compared as numbers).
      const lands = [...v.files].sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }));
      if (lands.length < 3) throw new Error('A bullet needs its land files: choose 3 to 12 of them.');
      body = new FormData();
      lands.forEach((f, i) => body.append(`land${i + 1}`, f, f.name));
      type = null;
    } else if (v.files.length > 1) {
      throw new Error('A cartridge case is one X3P file.');
    }
    progress.hidden = false;
    progress.value = 0;
    const x = await upload('POST', `/v1/ballistics?${params}`, body, type, (loaded, total) => {
      progress.value = total ? Math.round((100 * loaded) / total) : 0;
    });
    progress.value = 100;
    el.reset();
    announce(`Exhibit ${x.case_ref} added.`, 'ok');
    for (const w of x.warnings || []) announce(`Warning: ${w}`, 'error');
    await load();
    preview(x);
  }, { id: 'scan-form' });

  const searchProgress = h('progress', { id: 'file-search-progress', max: 100, value: 0, hidden: true, 'aria-label': 'Upload progress' });
  const fileResult = outlet({ id: 'file-search-result' });
  const fileSearch = form([
    { name: 'file', label: 'X3P scan', type: 'file', accept: '.x3p', required: true },
    { name: 'caliber', label: 'Calibre', required: true, placeholder: 'e.g. 9x19' },
    { name: 'case_ref', label: 'Case reference', hint: 'Optional; shown to holders only in confirmation requests.' },
  ], 'Search', 'read', async (v) => {
    if (!v.file) throw new Error('Choose an X3P file first.');
    const params = new URLSearchParams({ kind: 'cartridge_case', caliber: v.caliber });
    if (v.case_ref) params.set('case_ref', v.case_ref);
    searchProgress.hidden = false;
    searchProgress.value = 0;
    replace(fileResult, h('p', {}, `Sending ${v.file.name}…`));
    const result = await upload('POST', `/v1/ballistics/search?${params}`, v.file, 'application/octet-stream', (loaded, total) => {
      searchProgress.value = total ? Math.round((100 * loaded) / total) : 0;
      if (loaded >= total) replace(fileResult, h('p', {}, 'Screening every member\u2019s digests, then asking the holders to confirm…'));
    });
    searchProgress.value = 100;
    replace(fileResult, searchResults({ name: v.file.name }, result, 'filesearch'));
    announce(`Search: ${(result.candidates || []).filter((c) => c.confirmed).length} confirmed match(es).`, 'ok');
  }, { id: 'file-search-form' });

  await load();
  return h('div', {},
    h('h1', {}, 'Ballistics'),
    errors,
    section('Add a scan: a cartridge case, or a bullet\u2019s lands', add, progress),
    section('Search with a scan, without keeping it', fileSearch, searchProgress, fileResult),
    section('Exhibits on this node', refreshButton('ballistics-refresh', load, errors), list, work),
    section('Leads', h('p', { class: 'hint' }, 'Other members\u2019 new exhibits that screen close to ours; confirming one sends our prepared surface to the holder, so a reviewer approves it first.'), leadsBox));
}
