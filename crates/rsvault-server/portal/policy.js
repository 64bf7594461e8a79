// Backup policies: the editor's form model, the ARM body it becomes, the
// client-side checks (the same rules the server enforces), a readable
// summary of a policy, and its next scheduled backup.

import { t, tOr, fmtDateTimeIn } from './i18n.js';

export const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
export const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
export const WEEKS = ['First', 'Second', 'Third', 'Fourth', 'Last'];
export const INTERVALS = [4, 6, 8, 12];

/** Windows time-zone ids the editor offers (as Azure sends them), with IANA zones. */
export const TIME_ZONES = [
  ['UTC', 'UTC'],
  ['GMT Standard Time', 'Europe/London'],
  ['W. Europe Standard Time', 'Europe/Berlin'],
  ['Romance Standard Time', 'Europe/Paris'],
  ['India Standard Time', 'Asia/Kolkata'],
  ['China Standard Time', 'Asia/Shanghai'],
  ['Singapore Standard Time', 'Asia/Singapore'],
  ['Korea Standard Time', 'Asia/Seoul'],
  ['Tokyo Standard Time', 'Asia/Tokyo'],
  ['AUS Eastern Standard Time', 'Australia/Sydney'],
  ['Eastern Standard Time', 'America/New_York'],
  ['Central Standard Time', 'America/Chicago'],
  ['Pacific Standard Time', 'America/Los_Angeles'],
].map(([id, iana]) => ({ id, iana }));

export function ianaOf(windowsId) {
  const z = TIME_ZONES.find((x) => x.id.toLowerCase() === String(windowsId || '').toLowerCase());
  return z ? z.iana : null;
}

export function zoneLabel(id) {
  return tOr(`tz.${id}`, id);
}

/** The editor's default zone: the browser's, when the list has it. */
export function defaultZone() {
  let local = '';
  try {
    local = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch {
    local = '';
  }
  const z = TIME_ZONES.find((x) => x.iana === local);
  return z ? z.id : 'UTC';
}

/** "00:00" … "23:30": backups start on the hour or the half hour. */
export const TIMES = Array.from({ length: 48 }, (_, i) => `${String(Math.floor(i / 2)).padStart(2, '0')}:${i % 2 ? '30' : '00'}`);

export function newPolicyForm() {
  return {
    name: '',
    frequency: 'Daily',
    time: '21:00',
    days: ['Sunday'],
    interval: 4,
    windowStart: '08:00',
    windowDuration: 12,
    timeZone: defaultZone(),
    instantDays: 2,
    daily: { on: true, count: 30 },
    weekly: { on: false, day: 'Sunday', count: 12 },
    monthly: { on: false, format: 'Weekly', week: 'First', day: 'Sunday', date: '1', count: 60 },
    yearly: { on: false, month: 'January', format: 'Weekly', week: 'First', day: 'Sunday', date: '1', count: 10 },
  };
}

const iso = (hhmm) => `2024-01-01T${hhmm}:00Z`;

function monthDays(r) {
  if (r.format === 'Daily') {
    return {
      retentionScheduleFormatType: 'Daily',
      retentionScheduleDaily: { daysOfTheMonth: [r.date === 'Last' ? { date: 0, isLast: true } : { date: Number(r.date), isLast: false }] },
    };
  }
  return {
    retentionScheduleFormatType: 'Weekly',
    retentionScheduleWeekly: { daysOfTheWeek: [r.day], weeksOfTheMonth: [r.week] },
  };
}

export function isEnhanced(f) {
  return f.frequency === 'Hourly';
}

/** The ARM body (`{properties}`) of the form. */
export function policyBody(f) {
  const v2 = isEnhanced(f);
  const time = v2 ? f.windowStart : f.time;
  const T = [iso(time)];
  let schedulePolicy;
  if (!v2) {
    schedulePolicy = { schedulePolicyType: 'SimpleSchedulePolicy', scheduleRunFrequency: f.frequency, scheduleRunTimes: T, scheduleWeeklyFrequency: 0 };
    if (f.frequency === 'Weekly') schedulePolicy.scheduleRunDays = f.days;
  } else {
    schedulePolicy = {
      schedulePolicyType: 'SimpleSchedulePolicyV2',
      scheduleRunFrequency: 'Hourly',
      hourlySchedule: { interval: Number(f.interval), scheduleWindowStartTime: iso(f.windowStart), scheduleWindowDuration: Number(f.windowDuration) },
    };
  }
  const retentionPolicy = { retentionPolicyType: 'LongTermRetentionPolicy' };
  if (f.frequency !== 'Weekly' && f.daily.on) {
    retentionPolicy.dailySchedule = { retentionTimes: T, retentionDuration: { count: Number(f.daily.count), durationType: 'Days' } };
  }
  if (f.weekly.on || f.frequency === 'Weekly') {
    retentionPolicy.weeklySchedule = { daysOfTheWeek: [f.weekly.day], retentionTimes: T, retentionDuration: { count: Number(f.weekly.count), durationType: 'Weeks' } };
  }
  if (f.monthly.on) {
    retentionPolicy.monthlySchedule = { ...monthDays(f.monthly), retentionTimes: T, retentionDuration: { count: Number(f.monthly.count), durationType: 'Months' } };
  }
  if (f.yearly.on) {
    retentionPolicy.yearlySchedule = { ...monthDays(f.yearly), monthsOfYear: [f.yearly.month], retentionTimes: T, retentionDuration: { count: Number(f.yearly.count), durationType: 'Years' } };
  }
  return {
    properties: {
      backupManagementType: 'AzureIaasVM',
      policyType: v2 ? 'V2' : 'V1',
      timeZone: f.timeZone,
      instantRpRetentionRangeInDays: Number(f.frequency === 'Weekly' ? 5 : f.instantDays),
      schedulePolicy,
      retentionPolicy,
    },
  };
}

const timeOf = (iso8601, fallback) => (/T(\d\d:\d\d)/.exec(iso8601 || '') || [])[1] || fallback;

function monthForm(r, base) {
  if (!r) return { ...base, on: false };
  const out = { ...base, on: true, count: r.retentionDuration.count };
  if (r.retentionScheduleFormatType === 'Daily') {
    const d = ((r.retentionScheduleDaily || {}).daysOfTheMonth || [])[0] || {};
    return { ...out, format: 'Daily', date: d.isLast ? 'Last' : String(d.date || 1) };
  }
  const w = r.retentionScheduleWeekly || {};
  return { ...out, format: 'Weekly', day: (w.daysOfTheWeek || [])[0] || base.day, week: (w.weeksOfTheMonth || [])[0] || base.week };
}

/** The editor's form of an existing policy (the inverse of policyBody). */
export function policyForm(policy) {
  const f = newPolicyForm();
  const p = policy.properties || {};
  const s = p.schedulePolicy || {};
  const r = p.retentionPolicy || {};
  f.name = policy.name;
  f.timeZone = p.timeZone || 'UTC';
  f.instantDays = p.instantRpRetentionRangeInDays ?? f.instantDays;
  if (s.scheduleRunFrequency === 'Hourly' || s.hourlySchedule) {
    const hs = s.hourlySchedule || {};
    f.frequency = 'Hourly';
    f.interval = hs.interval || f.interval;
    f.windowStart = timeOf(hs.scheduleWindowStartTime, f.windowStart);
    f.windowDuration = hs.scheduleWindowDuration || f.windowDuration;
  } else {
    f.frequency = s.scheduleRunFrequency === 'Weekly' ? 'Weekly' : 'Daily';
    f.time = timeOf((s.scheduleRunTimes || [])[0], f.time);
    if (f.frequency === 'Weekly') f.days = s.scheduleRunDays || f.days;
  }
  f.daily = r.dailySchedule ? { on: true, count: r.dailySchedule.retentionDuration.count } : { ...f.daily, on: f.frequency !== 'Weekly' };
  f.weekly = r.weeklySchedule
    ? { on: true, day: (r.weeklySchedule.daysOfTheWeek || [])[0] || 'Sunday', count: r.weeklySchedule.retentionDuration.count }
    : { ...f.weekly, on: false };
  f.monthly = monthForm(r.monthlySchedule, f.monthly);
  f.yearly = { ...monthForm(r.yearlySchedule, f.yearly), month: ((r.yearlySchedule || {}).monthsOfYear || [])[0] || f.yearly.month };
  return f;
}

export const POLICY_NAME_RE = /^[A-Za-z][A-Za-z0-9_!-]{2,149}$/;

function intIn(v, min, max) {
  const s = String(v).trim();
  return /^\d+$/.test(s) && Number(s) >= min && Number(s) <= max;
}

/** Client-side checks; {field: message} for each field at fault. */
export function validatePolicy(f, existingNames = []) {
  const e = {};
  if (!f.name.trim()) e.name = t('policy.err.nameRequired');
  else if (!POLICY_NAME_RE.test(f.name)) e.name = t('policy.err.name');
  else if (existingNames.some((n) => n.toLowerCase() === f.name.toLowerCase())) e.name = t('policy.err.nameExists');
  if (f.frequency === 'Weekly' && !f.days.length) e.days = t('policy.err.days');
  if (isEnhanced(f)) {
    const w = Number(f.windowDuration);
    if (!intIn(w, 4, 24) || w % Number(f.interval) !== 0) e.windowDuration = t('policy.err.window', { interval: f.interval });
    if (!intIn(f.instantDays, 1, 30)) e.instantDays = t('policy.err.range', { min: 1, max: 30 });
  } else if (f.frequency === 'Daily' && !intIn(f.instantDays, 1, 5)) {
    e.instantDays = t('policy.err.range', { min: 1, max: 5 });
  }
  if (f.frequency !== 'Weekly' && !intIn(f.daily.count, 7, 9999)) e.dailyCount = t('policy.err.range', { min: 7, max: 9999 });
  if (f.weekly.on || f.frequency === 'Weekly') {
    if (!intIn(f.weekly.count, 1, 5163)) e.weeklyCount = t('policy.err.range', { min: 1, max: 5163 });
    if (f.frequency === 'Weekly' && !f.days.includes(f.weekly.day)) e.weeklyDay = t('policy.err.weeklyDay');
  }
  if (f.monthly.on && !intIn(f.monthly.count, 1, 1188)) e.monthlyCount = t('policy.err.range', { min: 1, max: 1188 });
  if (f.yearly.on && !intIn(f.yearly.count, 1, 99)) e.yearlyCount = t('policy.err.range', { min: 1, max: 99 });
  return e;
}

/** The editor field a server error names ("properties.<path>: …"). */
export function fieldOfServerError(message) {
  const m = /^properties\.([\w.[\]]+):/.exec(message || '');
  if (!m) return /policy name/i.test(message || '') ? 'name' : null;
  const p = m[1];
  const rules = [
    [/^timeZone/, 'timeZone'],
    [/^instantRp/, 'instantDays'],
    [/hourlySchedule\.interval/, 'interval'],
    [/hourlySchedule\.scheduleWindowDuration/, 'windowDuration'],
    [/hourlySchedule/, 'windowStart'],
    [/scheduleRunDays/, 'days'],
    [/scheduleRunTimes/, 'time'],
    [/^schedulePolicy/, 'frequency'],
    [/dailySchedule/, 'dailyCount'],
    [/weeklySchedule\.daysOfTheWeek/, 'weeklyDay'],
    [/weeklySchedule/, 'weeklyCount'],
    [/monthlySchedule/, 'monthlyCount'],
    [/yearlySchedule/, 'yearlyCount'],
  ];
  const hit = rules.find(([re]) => re.test(p));
  return hit ? hit[1] : null;
}

// ----- reading a policy -----

const hhmm = (s) => (/T(\d\d:\d\d)/.exec(s || '') || [])[1] || '';
const dayName = (d) => tOr(`day.${d}`, d);
const list = (xs) => xs.map(dayName).join(t('common.listSep'));

function monthPart(r) {
  if (r.retentionScheduleFormatType === 'Daily') {
    const days = (r.retentionScheduleDaily && r.retentionScheduleDaily.daysOfTheMonth) || [];
    return days.map((d) => (d.isLast ? t('policy.lastDay') : t('policy.dayN', { n: d.date }))).join(t('common.listSep'));
  }
  const w = r.retentionScheduleWeekly || {};
  return t('policy.weekDay', {
    week: (w.weeksOfTheMonth || []).map((x) => tOr(`week.${x}`, x)).join(t('common.listSep')),
    day: list(w.daysOfTheWeek || []),
  });
}

/** The schedule of a policy's properties, in words. */
export function describeSchedule(p) {
  const s = p.schedulePolicy || {};
  // The zone as the editor names it: "(UTC+09:00) 大阪、札幌、東京", not Windows' id.
  const tz = zoneLabel(p.timeZone || 'UTC');
  if (s.scheduleRunFrequency === 'Hourly') {
    const hs = s.hourlySchedule || {};
    return t('policy.sched.hourly', { interval: hs.interval, start: hhmm(hs.scheduleWindowStartTime), duration: hs.scheduleWindowDuration, tz });
  }
  const daily = s.dailySchedule || {};
  const weekly = s.weeklySchedule || {};
  const time = hhmm((s.scheduleRunTimes || daily.scheduleRunTimes || weekly.scheduleRunTimes || [])[0]);
  if (s.scheduleRunFrequency === 'Weekly') {
    return t('policy.sched.weekly', { days: list(s.scheduleRunDays || weekly.scheduleRunDays || []), time, tz });
  }
  return t('policy.sched.daily', { time, tz });
}

/** [label, text] lines describing a policy (shown under the policy drop-down). */
export function describePolicy(policy) {
  const p = policy.properties || {};
  const r = p.retentionPolicy || {};
  const lines = [
    [t('policy.type'), p.policyType === 'V2' ? t('policy.enhanced') : t('policy.standard')],
    [t('policy.frequency'), describeSchedule(p)],
    [t('policy.instantRestore'), t('policy.instantDays', { n: p.instantRpRetentionRangeInDays })],
  ];
  if (r.dailySchedule) lines.push([t('policy.retDaily'), t('policy.keepDays', { n: r.dailySchedule.retentionDuration.count })]);
  if (r.weeklySchedule) lines.push([t('policy.retWeekly'), t('policy.keepWeeks', { days: list(r.weeklySchedule.daysOfTheWeek || []), n: r.weeklySchedule.retentionDuration.count })]);
  if (r.monthlySchedule) lines.push([t('policy.retMonthly'), t('policy.keepMonths', { when: monthPart(r.monthlySchedule), n: r.monthlySchedule.retentionDuration.count })]);
  if (r.yearlySchedule) {
    lines.push([t('policy.retYearly'), t('policy.keepYears', {
      months: (r.yearlySchedule.monthsOfYear || []).map((m) => tOr(`month.${m}`, m)).join(t('common.listSep')),
      when: monthPart(r.yearlySchedule),
      n: r.yearlySchedule.retentionDuration.count,
    })]);
  }
  return lines;
}

// ----- next scheduled backup -----

function partsIn(ms, tz) {
  const f = new Intl.DateTimeFormat('en-US', {
    timeZone: tz, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric', weekday: 'long',
  });
  const o = {};
  for (const x of f.formatToParts(new Date(ms))) o[x.type] = x.value;
  return { y: +o.year, m: +o.month, d: +o.day, hh: +o.hour, mm: +o.minute, ss: +o.second, weekday: o.weekday };
}

function offsetAt(ms, tz) {
  const p = partsIn(ms, tz);
  return Date.UTC(p.y, p.m - 1, p.d, p.hh, p.mm, p.ss) - Math.floor(ms / 1000) * 1000;
}

/** The instant of a wall-clock time in `tz`. */
function zoned(y, m, d, hh, mm, tz) {
  const guess = Date.UTC(y, m - 1, d, hh, mm);
  let ms = guess - offsetAt(guess, tz);
  ms = guess - offsetAt(ms, tz);
  return ms;
}

/** The next time the policy's schedule runs after `now` (a Date), or null. */
export function nextRun(policy, now = new Date()) {
  const p = policy.properties || {};
  const tz = ianaOf(p.timeZone || 'UTC');
  if (!tz) return null;
  const s = p.schedulePolicy || {};
  const today = partsIn(now.getTime(), tz);
  const candidates = [];
  for (let i = -1; i <= 8; i++) {
    const base = new Date(Date.UTC(today.y, today.m - 1, today.d + i));
    const [y, m, d] = [base.getUTCFullYear(), base.getUTCMonth() + 1, base.getUTCDate()];
    const wd = DAYS[base.getUTCDay()];
    if (s.scheduleRunFrequency === 'Hourly') {
      const hs = s.hourlySchedule || {};
      const [sh, sm] = hhmm(hs.scheduleWindowStartTime).split(':').map(Number);
      const runs = Math.floor(hs.scheduleWindowDuration / hs.interval);
      for (let k = 0; k < runs; k++) candidates.push(zoned(y, m, d, sh + k * hs.interval, sm, tz));
      continue;
    }
    const times = s.scheduleRunTimes || (s.dailySchedule || s.weeklySchedule || {}).scheduleRunTimes || [];
    const [th, tm] = hhmm(times[0]).split(':').map(Number);
    if (Number.isNaN(th)) return null;
    if (s.scheduleRunFrequency === 'Weekly') {
      const days = s.scheduleRunDays || (s.weeklySchedule || {}).scheduleRunDays || [];
      if (!days.includes(wd)) continue;
    }
    candidates.push(zoned(y, m, d, th, tm, tz));
  }
  const next = candidates.filter((ms) => ms > now.getTime()).sort((a, b) => a - b)[0];
  return next ? new Date(next) : null;
}

/** The next scheduled backup in words, in the policy's own time zone. */
export function describeNextRun(policy) {
  const n = nextRun(policy);
  if (!n) return '—';
  return fmtDateTimeIn(n, ianaOf(policy.properties.timeZone || 'UTC'));
}
