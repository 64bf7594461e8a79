// Language choice, translation and locale-aware formatting.

import { messages } from './messages.js';

const KEY = 'rsvault.lang';
const listeners = new Set();

function initial() {
  const saved = localStorage.getItem(KEY);
  if (saved === 'ja' || saved === 'en') return saved;
  return (navigator.language || '').toLowerCase().startsWith('ja') ? 'ja' : 'en';
}

let current = initial();
document.documentElement.lang = current;

export function lang() {
  return current;
}

export function setLang(l) {
  if (l === current || !messages[l]) return;
  current = l;
  localStorage.setItem(KEY, l);
  document.documentElement.lang = l;
  for (const f of listeners) f(l);
}

export function onLangChange(f) {
  listeners.add(f);
}

/** The message `key` in the current language, with {placeholders} filled. */
export function t(key, vars) {
  let s = messages[current][key];
  if (s === undefined) {
    s = messages.en[key];
    if (s === undefined) {
      console.warn('missing message', key);
      return key;
    }
  }
  if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (vars[k] !== undefined ? String(vars[k]) : m));
  return s;
}

/** t() for a key that may be missing: the key's message, or `fallback`. */
export function tOr(key, fallback) {
  return messages[current][key] ?? messages.en[key] ?? fallback;
}

function locale() {
  return current === 'ja' ? 'ja-JP' : 'en-US';
}

export function fmtDateTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return new Intl.DateTimeFormat(locale(), { dateStyle: 'medium', timeStyle: 'medium' }).format(d);
}

/** A time in a given IANA zone: the one date-time format, the zone's name after it. */
export function fmtDateTimeIn(date, tz) {
  const when = new Intl.DateTimeFormat(locale(), { dateStyle: 'medium', timeStyle: 'medium', timeZone: tz }).format(date);
  const zone = new Intl.DateTimeFormat(locale(), { timeZone: tz, timeZoneName: 'long' })
    .formatToParts(date).find((p) => p.type === 'timeZoneName');
  return zone ? `${when} (${zone.value})` : when;
}

/** ISO 8601 duration (PT1H2M3.5S) → 01:02:03 */
export function fmtDuration(iso) {
  const m = /^P(?:(\d+)D)?T?(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?$/.exec(iso || '');
  if (!m) return iso || '—';
  const secs = Math.floor((+m[1] || 0) * 86400 + (+m[2] || 0) * 3600 + (+m[3] || 0) * 60 + (+m[4] || 0));
  const pad = (n) => String(n).padStart(2, '0');
  return `${pad(Math.floor(secs / 3600))}:${pad(Math.floor((secs % 3600) / 60))}:${pad(secs % 60)}`;
}

/**
 * An error the server returned, in the page's language: the code's own
 * wording where the portal knows the code (the code after it, for
 * support), else the server's text, marked as the server's when the page
 * is not in English.
 */
export function errorText(code, serverText) {
  if (errorKnown(code)) return `${t(`err.${code}`, { text: serverText || '—' })} (${code})`;
  if (current !== 'en' && serverText) return t('err.serverSaid', { text: serverText, code: code || '—' });
  return serverText || code || '';
}

/** Whether the page words error `code` itself (not in English: there the server's text is the wording). */
export function errorKnown(code) {
  return current !== 'en' && !!messages[current][`err.${code}`];
}

/** Whether the page's wording of error `code` already carries the server's text. */
export function errorCarriesText(code) {
  return errorKnown(code) && messages[current][`err.${code}`].includes('{text}');
}

/**
 * A job error's recommended action in the page's language: the portal's
 * own wording for the code, else the server's, marked as such when the
 * page is not in English.
 */
export function recommendationText(code, serverText) {
  if (current === 'en') return serverText;
  const own = messages[current][`rec.${code}`];
  if (own) return own;
  return t('err.serverRecommends', { text: serverText });
}

/** A size in bytes, in decimal units as Azure bills them (1.5 GB, 340 MB). */
export function fmtBytes(n) {
  const units = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];
  let v = Number(n) || 0;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i += 1;
  }
  const digits = i === 0 || v >= 100 ? 0 : 1;
  return `${new Intl.NumberFormat(locale(), { maximumFractionDigits: digits }).format(v)} ${units[i]}`;
}

/** A region's display name ("japaneast" → "Japan East" / "東日本"). */
export function regionName(r) {
  return tOr(`region.${(r || '').toLowerCase()}`, r || '—');
}
