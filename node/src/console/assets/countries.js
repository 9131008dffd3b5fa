// Country names for ISO 3166-1 alpha-2 codes: the browser's own table (Intl.DisplayNames,
// offline), with a small embedded table as a fallback for browsers without it.

const FALLBACK = {
  AR: 'Argentina', AT: 'Austria', AU: 'Australia', BA: 'Bosnia and Herzegovina', BE: 'Belgium',
  BG: 'Bulgaria', BR: 'Brazil', CA: 'Canada', CH: 'Switzerland', CY: 'Cyprus', CZ: 'Czechia',
  DE: 'Germany', DK: 'Denmark', EE: 'Estonia', ES: 'Spain', FI: 'Finland', FR: 'France',
  GB: 'United Kingdom', GR: 'Greece', HR: 'Croatia', HU: 'Hungary', IE: 'Ireland', IN: 'India',
  IS: 'Iceland', IT: 'Italy', JP: 'Japan', KR: 'South Korea', LI: 'Liechtenstein', LT: 'Lithuania',
  LU: 'Luxembourg', LV: 'Latvia', MA: 'Morocco', ME: 'Montenegro', MK: 'North Macedonia',
  MT: 'Malta', MX: 'Mexico', NL: 'Netherlands', NO: 'Norway', PL: 'Poland', PT: 'Portugal',
  RO: 'Romania', RS: 'Serbia', SE: 'Sweden', SI: 'Slovenia', SK: 'Slovakia', TR: 'Türkiye',
  UA: 'Ukraine', US: 'United States', ZA: 'South Africa',
};

let display = null;
try {
  display = new Intl.DisplayNames(['en'], { type: 'region', fallback: 'none' });
} catch (_) {
  display = null;
}

/** The English name of `code`, or null when neither table knows it. */
export function countryName(code) {
  const cc = String(code || '').toUpperCase();
  if (!/^[A-Z]{2}$/.test(cc)) return null;
  let name = null;
  try {
    name = display ? display.of(cc) : null;
  } catch (_) {
    name = null;
  }
  if (name && name !== cc) return name;
  return FALLBACK[cc] || null;
}
