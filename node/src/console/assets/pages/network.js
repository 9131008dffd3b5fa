// Network: this member, the other members and their connections, and the feeds held.

import { get } from '../api.js';
import { h, section, table, facts, country, when, yesNo, shortId } from '../ui.js';

export const title = 'Network';

export async function render() {
  const [status, peers] = await Promise.all([get('/v1/status'), get('/v1/peers')]);
  const byBureau = { [status.bureau_id]: status.country };
  for (const p of peers) byBureau[p.bureau_id] = p.country;
  const feeds = Object.entries(status.feeds || {}).map(([origin, seq]) => ({ origin, seq }));
  feeds.sort((a, b) => String(byBureau[a.origin] || '').localeCompare(String(byBureau[b.origin] || '')));
  return h('div', {},
    h('h1', {}, 'Network'),
    section('This member', facts([
      ['Bureau', status.name],
      ['Country', country(status.country)],
      ['Network', status.network],
      ['Bureau id', h('span', { class: 'mono' }, status.bureau_id)],
      ['Members connected', `${status.peers_connected} of ${Math.max(0, status.roster_size - 1)}`],
      ['Entries held', String(status.entries_held)],
      ['Equivocations', status.equivocations && status.equivocations.length
        ? status.equivocations.map((e) => `${country(e.country)} at seq ${e.seq}`).join('; ') : 'none'],
    ])),
    section('Members',
      table([
        ['Country', (p) => country(p.country)],
        ['Bureau', (p) => p.name],
        ['Connected', (p) => yesNo(p.connected, 'connected', 'not connected')],
        ['Last seen', (p) => when(p.last_seen)],
        ['Gossip score', (p) => (typeof p.gossip_score === 'number' ? p.gossip_score.toFixed(1) : '—')],
        ['Entries refused', (p) => String(p.rejected_entries)],
        ['Bureau id', (p) => shortId(p.bureau_id)],
      ], peers, { id: 'peers', empty: 'No other members on the roster.' })),
    section('Feeds held',
      h('p', { class: 'hint' }, 'Each member\u2019s feed as far as this node holds it (highest entry in order).'),
      table([
        ['Member', (f) => country(byBureau[f.origin])],
        ['Entries', (f) => String(f.seq)],
        ['Bureau id', (f) => shortId(f.origin)],
      ], feeds, { id: 'feeds' })));
}
