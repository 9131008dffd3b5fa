// DOM building and formatting shared by the pages. Data only ever enters the page as text
// (textContent, attribute values): nothing here parses HTML.

import { countryName } from './countries.js';

/**
 * Builds an element: `h('button', {type: 'button', onclick: f, class: 'x'}, 'Text', child)`.
 * Attributes starting with "on" become listeners; `null`/`false` attributes are left out;
 * children are nodes or text (null and false are skipped, arrays are flattened).
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (k === 'dataset') {
      Object.assign(el.dataset, v);
    } else if (v === true) {
      el.setAttribute(k, '');
    } else {
      el.setAttribute(k, String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

/** Replaces the children of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// --- Who is signed in -------------------------------------------------------------------

const RANK = { analyst: 0, officer: 1, reviewer: 1, admin: 2 };
export const session = { me: null, status: null };

/** Whether the signed-in user's role grants `permission`: read, act, review or admin. */
export function can(permission) {
  const role = session.me && session.me.role;
  if (!role) return false;
  switch (permission) {
    case 'read': return role in RANK;
    case 'act': return role === 'officer' || role === 'admin';
    case 'review': return role === 'reviewer' || role === 'admin';
    case 'admin': return role === 'admin';
    default: return false;
  }
}

const NEEDS = { act: 'the officer role', review: 'the reviewer role', admin: 'the admin role' };

/** Why the user may not do what needs `permission`, for a hint beside a disabled control. */
export function needs(permission) {
  const role = session.me ? session.me.role : 'unknown';
  return `Needs ${NEEDS[permission] || permission}; you are signed in as ${article(role)} ${role}.`;
}

function article(word) {
  return /^[aeiou]/i.test(word) ? 'an' : 'a';
}

/**
 * A button that runs `action` when clicked, disabled (with the reason shown beside it) when
 * the user's role lacks `permission`. While `action` runs, the button is disabled; an error it
 * throws is shown in `errors` (an element) when given. The API decides in the end: a button
 * enabled by other means still gets the API's refusal, shown the same way.
 */
export function actionButton(label, permission, action, errors, attrs) {
  const allowed = !permission || can(permission);
  const reason = allowed ? null : needs(permission);
  const button = h('button', Object.assign({ type: 'button', disabled: !allowed, title: reason }, attrs || {}), label);
  button.addEventListener('click', async () => {
    button.disabled = true;
    if (errors) errors.replaceChildren();
    try {
      await action(button);
    } catch (e) {
      if (errors) showError(errors, e);
      else announce(e.message || String(e), 'error');
    } finally {
      button.disabled = !allowed;
    }
  });
  if (allowed) return button;
  return h('span', { class: 'actions' }, button, h('span', { class: 'hint' }, reason));
}

// --- Messages -----------------------------------------------------------------------------

/** Shows a short message in the page's live region. */
export function announce(text, kind) {
  const region = document.getElementById('status');
  replace(region, h('span', { class: `msg ${kind || 'info'}` }, text));
}

/** An error box for `error` (an ApiError or any Error), role="alert". */
export function errorBox(error) {
  const forbidden = error && error.status === 403;
  const title = forbidden ? 'Refused (403): ' : error && error.status ? `Error (${error.status}): ` : 'Error: ';
  return h('div', { class: 'error', role: 'alert', dataset: { code: (error && error.code) || 'error' } },
    h('strong', {}, title), (error && error.message) || String(error),
    error && error.field ? h('span', { class: 'hint' }, ` (field: ${error.field})`) : null);
}

/** Shows `error` in `box` (replacing what it held) and in the live region. */
export function showError(box, error) {
  replace(box, errorBox(error));
  box.hidden = false;
  announce(error && error.message ? error.message : String(error), 'error');
}

/** A container for a section's errors and results. */
export function outlet(attrs) {
  return h('div', Object.assign({ class: 'outlet', 'aria-live': 'polite' }, attrs || {}));
}

// --- Formatting ----------------------------------------------------------------------------

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const dateOnly = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });

/** A <time> for an RFC 3339 string, epoch milliseconds or a YYYY-MM-DD date, in local time. */
export function when(value) {
  if (value === null || value === undefined || value === '') return '—';
  let d;
  let dayOnly = false;
  if (typeof value === 'number') d = new Date(value);
  else if (/^\d{4}-\d{2}-\d{2}$/.test(value)) {
    d = new Date(`${value}T00:00:00`);
    dayOnly = true;
  } else d = new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  const iso = typeof value === 'string' ? value : d.toISOString();
  return h('time', { datetime: iso, title: iso }, dayOnly ? dateOnly.format(d) : dateTime.format(d));
}

/** A country as people read it: "Germany (DE)". */
export function country(code) {
  if (!code) return '—';
  const name = countryName(code);
  return name ? `${name} (${code})` : code;
}

/** An id shortened for display, with the whole id in its title. */
export function shortId(id) {
  if (!id) return '—';
  const s = String(id);
  return h('span', { class: 'mono', title: s }, s.length > 12 ? `${s.slice(0, 10)}…` : s);
}

/** A badge: kind is ok, bad, warn, orange or purple. */
export function badge(text, kind) {
  return h('span', { class: `badge ${kind || ''}` }, text);
}

/** A yes/no badge. */
export function yesNo(value, yes, no) {
  return value ? badge(yes || 'yes', 'ok') : badge(no || 'no', 'bad');
}

/**
 * A table: columns are [label, row => node or text]. An empty list shows `empty`.
 * `attrs` go on the table (e.g. an id for tests and a caption).
 */
export function table(columns, rows, opts) {
  const o = opts || {};
  if (!rows || rows.length === 0) return h('p', { class: 'hint', id: o.id || null }, o.empty || 'Nothing yet.');
  return h('table', { id: o.id || null },
    o.caption ? h('caption', {}, o.caption) : null,
    h('thead', {}, h('tr', {}, columns.map(([label]) => h('th', { scope: 'col' }, label)))),
    h('tbody', {}, rows.map((row) => h('tr', { dataset: o.rowData ? o.rowData(row) : {} },
      columns.map(([, cell]) => h('td', {}, cell(row) ?? '—'))))));
}

/** A definition list of [term, value] pairs. */
export function facts(pairs) {
  return h('dl', { class: 'facts' }, pairs.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v ?? '—')]));
}

// --- Forms -------------------------------------------------------------------------------

let fieldSeq = 0;

/**
 * A form from field descriptions {name, label, type, options, required, value, hint, wide,
 * placeholder}; `type` may be text, number, date, datetime-local, select, textarea, file,
 * password. `onSubmit(values, form)` runs on submit; the submit button is disabled (with the
 * reason) when the role lacks `permission`. Errors thrown are shown under the form.
 */
export function form(fields, submitLabel, permission, onSubmit, opts) {
  const o = opts || {};
  const allowed = !permission || can(permission);
  const prefix = o.id || `f${++fieldSeq}`;
  const errors = outlet();
  const controls = {};
  const el = h('form', { class: 'form', id: o.id || null, novalidate: false });
  for (const f of fields) {
    const id = `${prefix}-${f.name}`;
    let control;
    const common = { id, name: f.name, required: !!f.required, disabled: !allowed, placeholder: f.placeholder || null };
    if (f.type === 'select') {
      control = h('select', common, f.options.map(([value, label]) =>
        h('option', { value, selected: value === f.value }, label)));
    } else if (f.type === 'textarea') {
      control = h('textarea', common);
      if (f.value) control.value = f.value;
    } else {
      control = h('input', Object.assign(common, {
        type: f.type || 'text', accept: f.accept || null, min: f.min ?? null, max: f.max ?? null,
        step: f.step || null, autocomplete: f.type === 'password' ? 'off' : null, multiple: !!f.multiple,
      }));
      if (f.value !== undefined && f.type !== 'file') control.value = f.value;
    }
    controls[f.name] = control;
    el.appendChild(h('div', { class: f.wide ? 'field wide' : 'field' },
      h('label', { for: id }, f.label + (f.required ? ' *' : '')),
      control,
      f.hint ? h('span', { class: 'hint' }, f.hint) : null));
  }
  const submit = h('button', { type: 'submit', disabled: !allowed, id: o.submitId || null }, submitLabel);
  el.appendChild(h('div', { class: 'actions field wide' }, submit,
    allowed ? null : h('span', { class: 'hint' }, needs(permission))));
  el.appendChild(h('div', { class: 'field wide' }, errors));
  el.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!allowed) return;
    const values = {};
    for (const [name, control] of Object.entries(controls)) {
      if (control.type === 'file') {
        values[name] = control.files[0] || null;
        values[`${name}s`] = [...control.files];
      } else {
        values[name] = control.value.trim();
      }
    }
    submit.disabled = true;
    errors.replaceChildren();
    try {
      await onSubmit(values, el, errors);
    } catch (e) {
      showError(errors, e);
    } finally {
      submit.disabled = false;
    }
  });
  el.controls = controls;
  return el;
}

/** `values` without empty strings (for optional JSON fields). */
export function compact(values) {
  const out = {};
  for (const [k, v] of Object.entries(values)) if (v !== '' && v !== null && v !== undefined) out[k] = v;
  return out;
}

/** "DE, es ,IT" as ["DE", "ES", "IT"]. */
export function codes(text) {
  return (text || '').split(/[\s,;]+/).map((c) => c.trim().toUpperCase()).filter(Boolean);
}

/**
 * A "Refresh" button running `load`: disabled (and aria-busy) while it runs, so that a reader
 * (or a test) knows when the lists shown are the new ones. Errors go to `errors`.
 */
export function refreshButton(id, load, errors) {
  const button = h('button', { type: 'button', class: 'secondary', id }, 'Refresh');
  button.addEventListener('click', async () => {
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
    try {
      await load();
    } catch (e) {
      if (errors) showError(errors, e);
    } finally {
      button.disabled = false;
      button.removeAttribute('aria-busy');
    }
  });
  return h('div', { class: 'actions' }, button);
}

/** A section with a heading. */
export function section(title, ...children) {
  const id = `s-${title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
  return h('section', { 'aria-labelledby': id }, h('h2', { id }, title), children);
}

/** Shows a picture fetched with the token (a Blob) in `img`, freeing the previous one. */
export function showBlobImage(img, blob) {
  if (img.dataset.url) URL.revokeObjectURL(img.dataset.url);
  const url = URL.createObjectURL(blob);
  img.dataset.url = url;
  img.src = url;
}
