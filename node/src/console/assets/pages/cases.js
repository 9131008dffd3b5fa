// Cases: the Firearms Recovery Protocol, one case per recovered firearm: list, open a case,
// its steps (recording the manual ones), leads, trafficking indicators and the HTML report.

import { api, get, getBlob } from '../api.js';
import {
  h, replace, section, table, facts, country, when, badge, form, compact, outlet, announce,
  actionButton, showError, codes, can, session,
} from '../ui.js';

export const title = 'Cases';

const STEP_STATE = { done: 'ok', running: 'warn', failed: 'bad', manual: '', not_applicable: '' };

/**
 * Applies the report's own style sheet in the report's tab: a blob page inherits the
 * console's policy, which refuses inline <style>; a constructed style sheet is not markup.
 */
function styleReport(win) {
  const apply = () => {
    const style = win.document.querySelector('style');
    if (!style || !win.CSSStyleSheet) return;
    const sheet = new win.CSSStyleSheet();
    sheet.replaceSync(style.textContent);
    win.document.adoptedStyleSheets = [sheet];
  };
  if (win.document.readyState === 'complete' && win.location.href !== 'about:blank') apply();
  else win.addEventListener('load', apply);
}

async function openReport(id, box) {
  const blob = await getBlob(`/v1/cases/${encodeURIComponent(id)}/report?format=html`);
  const url = URL.createObjectURL(new Blob([blob], { type: 'text/html' }));
  const opened = window.open(url, '_blank');
  if (opened) {
    try {
      styleReport(opened);
    } catch (_) {
      // Unstyled, the report is still whole.
    }
  }
  replace(box, h('p', { id: 'case-report-links' },
    opened ? 'The report opened in a new tab. ' : 'The browser did not open a new tab: ',
    h('a', { href: url, target: '_blank', rel: 'noopener' }, 'Open the report'), ' · ',
    h('a', { href: url, download: `case-${id}-report.html` }, 'Download it')));
}

async function detail(id, box, errors) {
  const c = await get(`/v1/cases/${encodeURIComponent(id)}`);
  const reportBox = outlet();
  const f = c.firearm;
  replace(box, h('div', { class: 'panel', id: 'case-detail' },
    h('h3', {}, `${c.case_ref}: ${c.title}`),
    facts([
      ['State', badge(c.state, c.state === 'done' ? 'ok' : 'warn')],
      ['Opened', when(c.created_at)],
      ['Recovered', [when(c.recovered.date), ' in ', c.recovered.place ? `${c.recovered.place}, ` : '', country(c.recovered.country)]],
      ['Firearm', f ? `${[f.make, f.model, f.caliber].filter(Boolean).join(' ')}, serial ${f.serial || '—'} (${f.serial_state})` : 'none recovered'],
      ['Exhibits', c.exhibits.length ? c.exhibits.join(', ') : 'none'],
    ]),
    h('h4', {}, 'Steps'),
    table([
      ['Step', (s) => String(s.step)],
      ['Name', (s) => s.name],
      ['State', (s) => badge(s.state.replace('_', ' '), STEP_STATE[s.state] ?? '')],
      ['Summary', (s) => s.summary],
      ['Recorded', (s) => (s.recorded_at ? when(s.recorded_at) : '—')],
      ['', (s) => ([3, 4, 5, 8].includes(s.step) && can('act') ? stepForm(c.id, s, () => detail(id, box, errors)) : null)],
    ], c.steps, { id: 'case-steps' }),
    h('h4', {}, 'Leads'),
    table([
      ['Kind', (l) => l.kind.replace(/_/g, ' ')],
      ['Member', (l) => country(l.country)],
      ['Summary', (l) => l.summary],
    ], c.leads, { id: 'case-leads', empty: 'No leads yet.' }),
    h('h4', {}, 'Trafficking indicators'),
    table([
      ['Code', (i) => h('span', { class: 'mono' }, i.code)],
      ['Indicator', (i) => i.description],
      ['Evidence', (i) => (Array.isArray(i.evidence) ? i.evidence.join('; ') : String(i.evidence ?? '—'))],
    ], c.indicators, { id: 'case-indicators', empty: 'No indicator raised.' }),
    h('div', { class: 'actions' }, actionButton('Open the lead report', 'read', () => openReport(c.id, reportBox), errors, { id: 'case-report' })),
    reportBox));
}

function stepForm(caseId, s, done) {
  const states = [['done', 'done'], ['not_applicable', 'not applicable'], ['failed', 'failed'], ['manual', 'to do']];
  return h('details', {}, h('summary', {}, 'Record'),
    form([
      { name: 'state', label: 'State', type: 'select', options: states, value: s.state },
      { name: 'notes', label: 'Notes', type: 'textarea' },
    ], 'Save', 'act', async (v) => {
      await api('POST', `/v1/cases/${encodeURIComponent(caseId)}/steps/${s.step}`, { state: v.state, notes: v.notes });
      announce(`Step ${s.step} recorded.`, 'ok');
      await done();
    }));
}

export async function render() {
  const errors = outlet();
  const list = outlet({ id: 'cases' });
  const details = outlet();

  async function load() {
    const cases = await get('/v1/cases');
    replace(list, table([
      ['Case', (c) => h('button', { type: 'button', class: 'secondary', onclick: () => detail(c.id, details, errors).catch((e) => showError(errors, e)) }, c.case_ref)],
      ['Title', (c) => c.title],
      ['Recovered', (c) => [when(c.recovered.date), ', ', country(c.recovered.country)]],
      ['Firearm', (c) => c.firearm || 'none'],
      ['Exhibits', (c) => String(c.exhibits)],
      ['Opened', (c) => when(c.created_at)],
    ], cases, { id: 'cases-table', empty: 'No cases on this node.' }));
  }

  const create = form([
    { name: 'case_ref', label: 'Case reference', required: true },
    { name: 'title', label: 'Title', required: true },
    { name: 'date', label: 'Recovered on', type: 'date', required: true },
    { name: 'country', label: 'Recovered in (country code)', required: true, value: (session.status && session.status.country) || '' },
    { name: 'place', label: 'Place' },
    { name: 'make', label: 'Firearm make' },
    { name: 'model', label: 'Model' },
    { name: 'caliber', label: 'Calibre' },
    { name: 'serial', label: 'Serial number' },
    { name: 'exhibits', label: 'Ballistic exhibits (ids)', hint: 'Optional, separated by commas.' },
    { name: 'to', label: 'Also ask (country codes)' },
  ], 'Open case', 'act', async (v, el) => {
    const body = {
      case_ref: v.case_ref, title: v.title,
      recovered: compact({ date: v.date, country: v.country.toUpperCase(), place: v.place }),
    };
    if (v.make) body.firearm = compact({ make: v.make, model: v.model, caliber: v.caliber, serial: v.serial });
    const exhibits = v.exhibits.split(/[\s,]+/).filter(Boolean);
    if (exhibits.length) body.exhibits = exhibits;
    const to = codes(v.to);
    if (to.length) body.to = to;
    const c = await api('POST', '/v1/cases', body);
    el.reset();
    announce(`Case ${c.case_ref} opened; the automatic steps run in the background.`, 'ok');
    await load();
    await detail(c.id, details, errors);
  }, { id: 'case-form' });

  await load();
  return h('div', {},
    h('h1', {}, 'Cases'),
    errors,
    section('Cases on this node', h('div', { class: 'actions' }, h('button', { type: 'button', class: 'secondary', onclick: () => load().catch((e) => showError(errors, e)) }, 'Refresh')), list, details),
    section('Open a case', create));
}
