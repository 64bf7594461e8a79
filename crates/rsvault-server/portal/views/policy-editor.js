// The backup policy editor ("Create policy"): schedule, time zone, instant
// restore, and daily/weekly/monthly/yearly retention. Every rule is checked
// inline as the user edits; the server's own verdict is shown at the field
// it names.

import { h, field, select, newId } from '../dom.js';
import { t } from '../i18n.js';
import { request, BACKUP_API } from '../api.js';
import { openDialog } from '../dialog.js';
import {
  DAYS, MONTHS, WEEKS, INTERVALS, TIMES, TIME_ZONES, zoneLabel, newPolicyForm, policyForm, policyBody, validatePolicy, fieldOfServerError, isEnhanced,
} from '../policy.js';

const opt = (values, label) => values.map((v) => ({ value: String(v), label: label(v) }));

/**
 * openPolicyEditor({vaultPath, existing, onSaved, save, policy})
 * save=false: the body is only checked here and handed to onSaved (the VM's
 * Backup blade saves it once its new vault exists).
 * policy: an existing policy to modify ("Modify policy"): the same editor,
 * prefilled, its name fixed; saving PUTs it again under its name.
 */
export function openPolicyEditor({ vaultPath, existing = [], onSaved, save = true, policy = null }) {
  const f = policy ? policyForm(policy) : newPolicyForm();
  if (policy) existing = existing.filter((n) => n.toLowerCase() !== policy.name.toLowerCase());
  const touched = new Set();
  let submitted = false;
  const fields = {};

  // --- controls ---
  const name = h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', value: f.name, readonly: !!policy });
  fields.name = field({ label: t('policy.name'), control: name, required: true, hint: t('policy.nameHint') });

  const freq = select(opt(['Daily', 'Weekly', 'Hourly'], (v) => t(`policy.freq.${v}`)), f.frequency);
  fields.frequency = field({ label: t('policy.frequency'), control: freq, hint: t('policy.hourlyHint') });

  const dayBoxes = DAYS.map((d) => h('input', { type: 'checkbox', value: d, checked: f.days.includes(d) }));
  const daysErr = h('p', { class: 'field-error', hidden: true, id: newId('days-err') });
  const daysSet = h('fieldset', { class: 'field days', 'aria-describedby': daysErr.id },
    h('legend', null, t('policy.days')),
    h('div', { class: 'checks' }, dayBoxes.map((b) => h('label', null, b, ' ', t(`day.${b.value}`)))),
    daysErr);
  fields.days = {
    el: daysSet,
    setError(msg) {
      daysErr.textContent = msg || '';
      daysErr.hidden = !msg;
      daysSet.toggleAttribute('aria-invalid', !!msg);
    },
    control: dayBoxes[0],
  };

  const time = select(opt(TIMES, (v) => v), f.time);
  fields.time = field({ label: t('policy.time'), control: time });
  const interval = select(opt(INTERVALS, (v) => t('policy.hours', { n: v })), String(f.interval));
  fields.interval = field({ label: t('policy.every'), control: interval });
  const windowStart = select(opt(TIMES, (v) => v), f.windowStart);
  fields.windowStart = field({ label: t('policy.windowStart'), control: windowStart });
  const windowDuration = h('input', { type: 'number', min: 4, max: 24, step: 1, value: f.windowDuration, inputmode: 'numeric' });
  fields.windowDuration = field({ label: t('policy.windowDuration'), control: windowDuration });
  const tz = select(TIME_ZONES.map((z) => ({ value: z.id, label: zoneLabel(z.id) })), f.timeZone);
  fields.timeZone = field({ label: t('policy.timeZone'), control: tz });

  const instant = h('input', { type: 'number', min: 1, max: 30, step: 1, value: f.instantDays, inputmode: 'numeric' });
  fields.instantDays = field({ label: t('policy.instantLabel'), control: instant });

  const countInput = (v, min, max) => h('input', { type: 'number', min, max, step: 1, value: v, inputmode: 'numeric' });
  const dailyOn = h('input', { type: 'checkbox', checked: f.daily.on });
  const dailyCount = countInput(f.daily.count, 7, 9999);
  fields.dailyCount = field({ label: t('policy.forDays'), control: dailyCount });
  const weeklyOn = h('input', { type: 'checkbox', checked: f.weekly.on });
  const weeklyDay = select(opt(DAYS, (d) => t(`day.${d}`)), f.weekly.day);
  fields.weeklyDay = field({ label: t('policy.on'), control: weeklyDay });
  const weeklyCount = countInput(f.weekly.count, 1, 5163);
  fields.weeklyCount = field({ label: t('policy.forWeeks'), control: weeklyCount });

  function monthBlock(r, countField, min, max, withMonth) {
    const on = h('input', { type: 'checkbox', checked: r.on });
    const group = newId('fmt');
    const fmtWeek = h('input', { type: 'radio', name: group, value: 'Weekly', checked: r.format === 'Weekly' });
    const fmtDay = h('input', { type: 'radio', name: group, value: 'Daily', checked: r.format === 'Daily' });
    const month = withMonth ? select(opt(MONTHS, (m) => t(`month.${m}`)), r.month) : null;
    const week = select(opt(WEEKS, (w) => t(`week.${w}`)), r.week);
    const day = select(opt(DAYS, (d) => t(`day.${d}`)), r.day);
    const date = select([...Array.from({ length: 28 }, (_, i) => ({ value: String(i + 1), label: String(i + 1) })), { value: 'Last', label: t('policy.lastDay') }], r.date);
    const count = countInput(r.count, min, max);
    fields[countField] = field({ label: t(withMonth ? 'policy.forYears' : 'policy.forMonths'), control: count });
    const weekFields = h('div', { class: 'inline-fields' }, field({ label: t('policy.week'), control: week }), field({ label: t('policy.day'), control: day }));
    const dayFields = h('div', { class: 'inline-fields' }, field({ label: t('policy.date'), control: date }));
    const details = h('div', { class: 'ret-details' },
      month ? field({ label: t('policy.month'), control: month }) : null,
      h('fieldset', { class: 'field' }, h('legend', null, t('policy.format')),
        h('div', { class: 'radio-row' },
          h('label', null, fmtWeek, ' ', t('policy.weekBased')),
          h('label', null, fmtDay, ' ', t('policy.dayBased')))),
      weekFields, dayFields, fields[countField]);
    details.setAttribute('role', 'group');
    details.setAttribute('aria-label', t(withMonth ? 'policy.retYearly' : 'policy.retMonthly'));
    return {
      on, details, weekFields, dayFields,
      read: () => ({
        on: on.checked, format: fmtDay.checked ? 'Daily' : 'Weekly', week: week.value, day: day.value, date: date.value, count: count.value, month: month ? month.value : undefined,
      }),
    };
  }
  const monthly = monthBlock(f.monthly, 'monthlyCount', 1, 1188, false);
  const yearly = monthBlock(f.yearly, 'yearlyCount', 1, 99, true);

  const dailyDetails = h('div', { class: 'ret-details', role: 'group', 'aria-label': t('policy.retDaily') }, fields.dailyCount);
  const weeklyDetails = h('div', { class: 'ret-details inline-fields', role: 'group', 'aria-label': t('policy.retWeekly') }, fields.weeklyDay, fields.weeklyCount);
  const retRow = (on, label, details) => h('div', { class: 'ret-row' }, h('label', { class: 'check' }, on, ' ', label), details);
  const dailyRow = retRow(dailyOn, t('policy.retDaily'), dailyDetails);
  const weeklyRow = retRow(weeklyOn, t('policy.retWeekly'), weeklyDetails);

  const scheduleSet = h('fieldset', { class: 'group' }, h('legend', null, t('policy.schedule')),
    fields.frequency, daysSet, fields.time, h('div', { class: 'inline-fields hourly' }, fields.interval, fields.windowStart, fields.windowDuration), fields.timeZone);
  const instantHint = h('p', { class: 'hint' });
  const instantSet = h('fieldset', { class: 'group' }, h('legend', null, t('policy.instantRestore')), fields.instantDays, instantHint);
  const retentionSet = h('fieldset', { class: 'group' }, h('legend', null, t('policy.retention')),
    dailyRow, weeklyRow,
    retRow(monthly.on, t('policy.retMonthly'), monthly.details),
    retRow(yearly.on, t('policy.retYearly'), yearly.details));

  function read() {
    return {
      name: name.value.trim(),
      frequency: freq.value,
      time: time.value,
      days: dayBoxes.filter((b) => b.checked).map((b) => b.value),
      interval: Number(interval.value),
      windowStart: windowStart.value,
      windowDuration: windowDuration.value,
      timeZone: tz.value,
      instantDays: instant.value,
      daily: { on: dailyOn.checked, count: dailyCount.value },
      weekly: { on: weeklyOn.checked, day: weeklyDay.value, count: weeklyCount.value },
      monthly: monthly.read(),
      yearly: yearly.read(),
    };
  }

  // Shows what applies to the chosen frequency, as Azure's editor does.
  function sync() {
    const cur = read();
    const weekly = cur.frequency === 'Weekly';
    const hourly = isEnhanced(cur);
    daysSet.hidden = !weekly;
    fields.time.hidden = hourly;
    scheduleSet.querySelector('.hourly').hidden = !hourly;
    dailyRow.hidden = weekly;
    dailyOn.checked = !weekly;
    dailyOn.disabled = true;
    dailyDetails.hidden = weekly;
    if (weekly) {
      weeklyOn.checked = true;
      weeklyOn.disabled = true;
      instant.value = '5';
      instant.disabled = true;
      instantHint.textContent = t('policy.instantWeekly');
    } else {
      weeklyOn.disabled = false;
      instant.disabled = false;
      instant.max = hourly ? 30 : 5;
      instantHint.textContent = hourly ? t('policy.instantRange', { min: 1, max: 30 }) : t('policy.instantRange', { min: 1, max: 5 });
    }
    weeklyDetails.hidden = !weeklyOn.checked;
    for (const m of [monthly, yearly]) {
      const r = m.read();
      m.details.hidden = !r.on;
      m.weekFields.hidden = r.format !== 'Weekly';
      m.dayFields.hidden = r.format !== 'Daily';
    }
  }

  function check() {
    const errs = validatePolicy(read(), existing);
    for (const [k, fl] of Object.entries(fields)) {
      const show = submitted || touched.has(k);
      fl.setError(show ? errs[k] || '' : '');
    }
    return errs;
  }

  const controls = {
    name, frequency: freq, time, interval, windowStart, windowDuration, timeZone: tz, instantDays: instant,
    dailyCount, weeklyDay, weeklyCount,
  };
  for (const [k, c] of Object.entries(controls)) {
    c.addEventListener('input', () => {
      touched.add(k);
      sync();
      check();
    });
    c.addEventListener('change', () => {
      touched.add(k);
      sync();
      check();
    });
  }
  for (const b of dayBoxes) b.addEventListener('change', () => { touched.add('days'); touched.add('weeklyDay'); sync(); check(); });
  const body = h('div', { class: 'policy-editor' }, fields.name, scheduleSet, instantSet, retentionSet);
  body.addEventListener('change', () => {
    sync();
    check();
  });
  sync();

  openDialog({
    title: t(policy ? 'policy.modifyTitle' : 'policy.createTitle'),
    wide: true,
    body,
    actions: [
      {
        label: t('common.ok'),
        primary: true,
        onClick: async (dlg) => {
          submitted = true;
          const errs = check();
          const first = Object.keys(fields).find((k) => errs[k]);
          if (first) {
            dlg.error.set(t('policy.err.fix'));
            fields[first].control.focus();
            return false;
          }
          const form = read();
          const bodyJson = policyBody(form);
          if (!save) {
            onSaved({ name: form.name, ...bodyJson, pending: true });
            return true;
          }
          try {
            const r = await request('PUT', `${vaultPath}/backupPolicies/${encodeURIComponent(form.name)}`, { apiVersion: BACKUP_API, body: bodyJson });
            onSaved(r.body);
            return true;
          } catch (e) {
            const k = fieldOfServerError(e.serverMessage || e.message);
            if (k && fields[k]) {
              fields[k].setError(e.message);
              fields[k].control.focus();
              dlg.error.set(t('policy.err.server'));
              return false;
            }
            throw e;
          }
        },
      },
      { label: t('common.cancel') },
    ],
  });
}
