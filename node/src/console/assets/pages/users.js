// Users (admins): this node's API users, adding one (its token is shown once), giving one a
// new token and revoking.

import { api, get } from '../api.js';
import { h, replace, section, table, when, form, outlet, announce, actionButton, badge, showError } from '../ui.js';

export const title = 'Users';

const ROLES = [['analyst', 'analyst: read, check, search'], ['officer', 'officer: records and requests'], ['reviewer', 'reviewer: approves disclosures'], ['admin', 'admin: everything']];

export async function render() {
  const errors = outlet();
  const list = outlet({ id: 'users' });
  const created = outlet({ id: 'new-user' });

  async function load() {
    const { users } = await get('/v1/users');
    replace(list, table([
      ['Name', (u) => u.name],
      ['Role', (u) => u.role],
      ['Status', (u) => badge(u.status, u.status === 'active' ? 'ok' : 'bad')],
      ['Created', (u) => when(u.created_at)],
      ['Expires', (u) => (u.expires_at ? when(u.expires_at) : 'never')],
      ['Revoked', (u) => (u.revoked_at ? when(u.revoked_at) : '—')],
      ['', (u) => (u.status === 'active'
        ? h('div', { class: 'actions' },
          u.created_by === 'bootstrap' ? null : actionButton(`New token for ${u.name}`, 'admin', async () => {
            if (!window.confirm(`Give ${u.name} a new token? The old one stops working at once.`)) return;
            const r = await api('POST', `/v1/users/${encodeURIComponent(u.id)}/token`, {});
            showToken(r, 'has a new token');
            await load();
          }, errors, { class: 'secondary' }),
          actionButton(`Revoke ${u.name}`, 'admin', async () => {
            if (!window.confirm(`Revoke ${u.name}? Their token stops working at once.`)) return;
            await api('DELETE', `/v1/users/${encodeURIComponent(u.id)}`);
            announce(`${u.name} revoked.`, 'ok');
            await load();
          }, errors, { class: 'danger' }))
        : null)],
    ], users, { id: 'users-table' }));
  }

  // A token is answered once (a new user, or a new token): shown here, never again.
  function showToken(u, what) {
    const link = `${window.location.origin}/console/#token=${u.token}`;
    replace(created, h('div', { class: 'panel', role: 'alert' },
      h('p', {}, h('strong', {}, `${u.name} (${u.role}) ${what}.`), ' This token is shown only now: give it to them over a safe channel.'),
      h('p', { class: 'token-once', id: 'new-token' }, u.token),
      h('p', { class: 'hint' }, 'Their console link: ', h('span', { class: 'mono' }, link))));
    announce(`${u.name} ${what}; copy the token now.`, 'ok');
  }

  const add = form([
    { name: 'name', label: 'Name (staff number or badge)', required: true },
    { name: 'role', label: 'Role', type: 'select', options: ROLES, value: 'analyst' },
    { name: 'expires_in_days', label: 'Expires in (days)', type: 'number', min: 1, max: 3650, value: '365' },
  ], 'Add user', 'admin', async (v, el) => {
    const body = { name: v.name, role: v.role };
    if (v.expires_in_days) body.expires_in_days = Number(v.expires_in_days);
    const u = await api('POST', '/v1/users', body);
    el.reset();
    showToken(u, 'added');
    await load();
  }, { id: 'user-form' });

  await load().catch((e) => showError(errors, e));
  return h('div', {},
    h('h1', {}, 'Users'),
    errors,
    section('Add a user', add, created),
    section('Users of this node', list));
}
