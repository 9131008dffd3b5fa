// The console's entry point: sign-in (token from the URL fragment or the form), who is
// signed in, the navigation and the hash router that loads one page module at a time.

import { get, token, setToken, clearToken } from './api.js';
import { h, replace, session, announce, errorBox, country } from './ui.js';

const PAGES = {
  network: () => import('./pages/network.js'),
  notices: () => import('./pages/notices.js'),
  firearms: () => import('./pages/firearms.js'),
  traces: () => import('./pages/traces.js'),
  ballistics: () => import('./pages/ballistics.js'),
  cases: () => import('./pages/cases.js'),
  queries: () => import('./pages/queries.js'),
  operations: () => import('./pages/operations.js'),
  analysis: () => import('./pages/analysis.js'),
  audit: () => import('./pages/audit.js'),
  users: () => import('./pages/users.js'),
};

const $ = (id) => document.getElementById(id);

/** Takes a token from "#token=..." (then removes it from the address bar and history). */
function tokenFromFragment() {
  const hash = window.location.hash;
  if (!hash.startsWith('#token=')) return false;
  const value = decodeURIComponent(hash.slice('#token='.length).split('&')[0]);
  if (value) setToken(value);
  history.replaceState(null, '', window.location.pathname + '#/network');
  return !!value;
}

function showSignIn(message) {
  $('nav').hidden = true;
  $('who').hidden = true;
  replace($('page'));
  $('sign-in').hidden = false;
  const box = $('sign-in-error');
  if (message) {
    replace(box, message);
    box.hidden = false;
  } else {
    box.hidden = true;
  }
  $('sign-in-token').focus();
}

async function signIn() {
  try {
    session.me = await get('/v1/me');
  } catch (e) {
    session.me = null;
    clearToken();
    showSignIn(e.status === 401 ? `This token was not accepted: ${e.message}` : e.message);
    return false;
  }
  try {
    session.status = await get('/v1/status');
  } catch (_) {
    session.status = null;
  }
  $('sign-in').hidden = true;
  $('nav').hidden = false;
  $('who').hidden = false;
  const me = session.me;
  replace($('who-text'), 'Signed in as ', h('strong', { id: 'who-name' }, me.name), ' · role ',
    h('strong', { id: 'who-role' }, me.role));
  if (session.status) {
    replace($('member'), `· ${session.status.name} · ${country(session.status.country)}`);
  }
  for (const item of document.querySelectorAll('[data-needs]')) {
    item.hidden = item.dataset.needs === 'admin' && me.role !== 'admin';
  }
  return true;
}

let rendering = 0;

async function route() {
  if (!token()) {
    showSignIn();
    return;
  }
  if (!session.me && !(await signIn())) return;
  let name = (window.location.hash.match(/^#\/([a-z]+)/) || [])[1] || 'network';
  if (!PAGES[name]) name = 'network';
  for (const a of document.querySelectorAll('nav a')) {
    if (a.getAttribute('href') === `#/${name}`) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const mine = ++rendering;
  const page = $('page');
  replace(page, h('p', { class: 'hint' }, 'Loading…'));
  try {
    const module = await PAGES[name]();
    const content = await module.render();
    if (mine !== rendering) return;
    replace(page, content);
    page.dataset.page = name;
    document.title = `${module.title} · striae console`;
  } catch (e) {
    if (mine !== rendering) return;
    replace(page, errorBox(e));
  }
}

function signOut() {
  clearToken();
  session.me = null;
  session.status = null;
  replace($('member'));
  announce('Signed out.', 'info');
  history.replaceState(null, '', window.location.pathname);
  showSignIn();
}

window.addEventListener('striae:unauthorized', (event) => {
  clearToken();
  session.me = null;
  showSignIn(`Signed out: ${event.detail.message}`);
});

window.addEventListener('hashchange', () => {
  if (tokenFromFragment()) session.me = null;
  // A message about the page left behind would mislead on the next one.
  replace($('status'));
  route();
});

$('sign-out').addEventListener('click', signOut);

// The skip link moves focus to the content without touching the hash the router reads.
document.querySelector('.skip').addEventListener('click', (event) => {
  event.preventDefault();
  $('main').focus();
});

$('sign-in-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const input = $('sign-in-token');
  if (!input.value.trim()) return;
  setToken(input.value);
  input.value = '';
  session.me = null;
  if (await signIn()) {
    announce('Signed in.', 'ok');
    if (!window.location.hash.startsWith('#/')) history.replaceState(null, '', '#/network');
    route();
  }
});

tokenFromFragment();
route();
