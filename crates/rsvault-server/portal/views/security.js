// A vault's "Security settings" (multi-user authorization with a resource
// guard, immutability) and its "Activity log" blade.

import { h, table, essentials, errorSlot, field, select, newId } from '../dom.js';
import { t, fmtDateTime, errorText } from '../i18n.js';
import { get, list, request, vaultPath, subPath, permissionsAt, ACTIONS, VAULT_API, BACKUP_API } from '../api.js';
import { show, loading, showError, blade, toolbar, denied, setTitle, vaultMenu, vaultCrumbs } from '../layout.js';
import { notify } from '../notifications.js';
import { confirmDialog } from '../dialog.js';

const MONITOR_API = '2015-04-01';
const OP = {
  deleteMapping: 'Microsoft.RecoveryServices/vaults/backupResourceGuardProxies/delete',
  reduceImmutability: 'Microsoft.RecoveryServices/vaults/write#reduceImmutabilityState',
};

/** The guard's request for an operation, from the vault's mapping. */
function requestFor(mapping, op) {
  const d = ((mapping && mapping.properties.resourceGuardOperationDetails) || []).find((x) => x.vaultCriticalOperation === op);
  return d ? d.defaultResourceRequest : null;
}

// The storage's object lock of the vault, in words.
function lockText(lock) {
  const l = lock || { state: 'Disabled' };
  const mode = l.mode ? t(`sec.lock.${l.mode}`) : '';
  const when = l.lastExtended ? fmtDateTime(l.lastExtended) : '';
  return t(`sec.lock.${l.state}`, { mode, n: l.windowInDays, when });
}

export async function securityView({ rg, name }, query, ctx) {
  const title = t('sec.title');
  setTitle(`${title} - ${name}`);
  loading(ctx, title);
  const vp = vaultPath(rg, name);
  let vault;
  let mappings;
  let can;
  let storage;
  try {
    [vault, mappings, can, storage] = await Promise.all([
      get(vp, VAULT_API), list(`${vp}/backupResourceGuardProxies`, BACKUP_API), permissionsAt(vp),
      get(`${vp}/backupstorageconfig/vaultstorageconfig`, BACKUP_API),
    ]);
  } catch (e) {
    showError(ctx, title, e);
    return;
  }
  const mapping = mappings[0] || null;
  const sec = vault.properties.securitySettings || {};
  const sd = sec.softDeleteSettings || {};
  const imm = (sec.immutabilitySettings || {}).state || 'Disabled';
  const reload = () => ctx.alive && securityView({ rg, name }, query, ctx);
  const proxy = `${vp}/backupResourceGuardProxies/VaultProxy`;

  // Multi-user authorization.
  const guardInput = h('input', { type: 'text', class: 'wide', value: mapping ? mapping.properties.resourceGuardResourceId : '',
    placeholder: '/subscriptions/…/resourceGroups/…/providers/Microsoft.DataProtection/resourceGuards/…' });
  const muaErr = errorSlot();
  const muaSave = h('button', { type: 'submit', class: 'primary', disabled: !can('Microsoft.RecoveryServices/vaults/backupResourceGuardProxies/write') }, t('common.save'));
  const muaRemove = h('button', { type: 'button', class: 'danger', hidden: !mapping }, t('sec.mua.remove'));
  const muaForm = h('form', { class: 'form', novalidate: true },
    h('p', null, t('sec.mua.help')),
    field({ label: t('sec.mua.guard'), control: guardInput, hint: t('sec.mua.guardHint') }),
    muaErr,
    h('div', { class: 'form-actions' }, muaSave, muaRemove));
  muaForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    muaErr.set('');
    const id = guardInput.value.trim();
    if (!id) {
      muaErr.set(t('sec.mua.guardRequired'));
      return;
    }
    try {
      await request('PUT', proxy, { apiVersion: BACKUP_API, body: { properties: { resourceGuardResourceId: id } } });
      notify({ title: t('sec.mua.saved', { name }), status: 'success' });
      reload();
    } catch (x) {
      muaErr.set(x.message);
    }
  });
  muaRemove.addEventListener('click', async () => {
    const ok = await confirmDialog({ title: t('sec.mua.remove'), message: t('sec.mua.removeConfirm', { name }), confirmLabel: t('sec.mua.remove') });
    if (!ok) return;
    muaErr.set('');
    try {
      const req = requestFor(mapping, OP.deleteMapping);
      await request('POST', `${proxy}/unlockDelete`, { apiVersion: BACKUP_API, body: { resourceGuardOperationRequests: req ? [req] : [] } });
      await request('DELETE', proxy, { apiVersion: BACKUP_API });
      notify({ title: t('sec.mua.removed', { name }), status: 'success' });
      reload();
    } catch (x) {
      muaErr.set(x.message);
    }
  });

  // Immutability.
  const states = ['Disabled', 'Unlocked', 'Locked'];
  const immSelect = select(states.map((s) => ({ value: s, label: t(`sec.imm.${s}`), disabled: imm === 'Locked' && s !== 'Locked' })), imm);
  const immErr = errorSlot();
  const immSave = h('button', { type: 'submit', class: 'primary', disabled: imm === 'Locked' || !can(ACTIONS.writeVault) }, t('common.save'));
  const immForm = h('form', { class: 'form', novalidate: true },
    h('p', null, t('sec.imm.help')),
    field({ label: t('sec.imm.state'), control: immSelect, hint: imm === 'Locked' ? t('sec.imm.lockedHint') : t('sec.imm.hint') }),
    immErr,
    h('div', { class: 'form-actions' }, immSave));
  immForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    immErr.set('');
    const state = immSelect.value;
    if (state === 'Locked') {
      const ok = await confirmDialog({ title: t('sec.imm.lockTitle'), message: t('sec.imm.lockConfirm', { name }), confirmLabel: t('sec.imm.Locked') });
      if (!ok) return;
    }
    const properties = { securitySettings: { immutabilitySettings: { state } } };
    const req = state === 'Disabled' ? requestFor(mapping, OP.reduceImmutability) : null;
    if (req) properties.resourceGuardOperationRequests = [req];
    try {
      await request('PATCH', vp, { apiVersion: VAULT_API, body: { properties } });
      notify({ title: t('sec.imm.saved', { name }), status: 'success' });
      reload();
    } catch (x) {
      immErr.set(x.message);
    }
  });

  const muaId = newId('mua');
  const immId = newId('imm');
  show(ctx, blade({
    crumbs: vaultCrumbs(rg, name, [title]),
    title,
    subtitle: name,
    menu: vaultMenu(rg, name, 'security'),
    tools: toolbar([{ label: t('common.refresh'), icon: 'refresh', onClick: reload }]),
    body: [
      essentials([
        [t('config.softDelete'), sd.softDeleteState === 'Disabled' ? t('common.disabled') : t('config.softDeleteOn', { n: sd.softDeleteRetentionPeriodInDays })],
        [t('sec.imm.state'), t(`sec.imm.${imm}`)],
        [t('sec.lock.title'), lockText(storage.properties.rsvaultObjectLock)],
        [t('sec.mua.title'), sec.multiUserAuthorization === 'Enabled' ? t('sec.mua.on', { guard: mapping.properties.resourceGuardResourceId.split('/').pop() }) : t('common.disabled')],
      ], t('common.essentials')),
      h('section', { 'aria-labelledby': muaId }, h('h2', { id: muaId }, t('sec.mua.title')), muaForm),
      h('section', { 'aria-labelledby': immId }, h('h2', { id: immId }, t('sec.imm.title')), immForm),
    ],
  }));
}

/** A failed event's message ("Code: text"), in the page's language. */
function statusMessage(m) {
  const parts = /^([A-Za-z]+): ([\s\S]*)$/.exec(m);
  return parts ? errorText(parts[1], parts[2]) : errorText(null, m);
}

/** An event's status, as the activity log words it. */
function statusText(e) {
  return t(`activity.status.${e.status.value}`);
}

export async function activityView({ rg, name }, query, ctx) {
  const title = t('activity.title');
  setTitle(`${title} - ${name}`);
  loading(ctx, title);
  const vp = vaultPath(rg, name);
  const hours = Number(query.get('hours')) || 24;
  const end = new Date();
  const start = new Date(end.getTime() - hours * 3600 * 1000);
  const filter = `eventTimestamp ge '${start.toISOString()}' and eventTimestamp le '${end.toISOString()}' and resourceUri eq '${vp}'`;
  let events;
  try {
    events = await list(`${subPath()}/providers/Microsoft.Insights/eventtypes/management/values`, MONITOR_API, filter);
  } catch (e) {
    showError(ctx, title, e);
    return;
  }
  const span = select([1, 24, 168].map((n) => ({ value: String(n), label: t(`activity.span.${n}`) })), String(hours), { 'aria-label': t('activity.span') });
  span.addEventListener('change', () => { location.hash = `${location.hash.split('?')[0]}?hours=${span.value}`; });
  show(ctx, blade({
    crumbs: vaultCrumbs(rg, name, [title]),
    title,
    subtitle: name,
    menu: vaultMenu(rg, name, 'activity'),
    tools: toolbar([{ label: t('common.refresh'), icon: 'refresh', onClick: () => activityView({ rg, name }, query, ctx) }]),
    body: [
      h('div', { class: 'filters' }, field({ label: t('activity.span'), control: span })),
      table({
        caption: title,
        head: [t('activity.operation'), t('activity.status'), t('activity.time'), t('activity.caller'), t('activity.client')],
        rows: events.map((e) => h('tr', { class: e.status.value === 'Failed' ? 'failed' : null },
          h('td', null, h('span', { title: e.resourceId }, e.operationName.value)),
          h('td', null, statusText(e), e.properties && e.properties.statusMessage ? h('p', { class: 'muted small' }, statusMessage(e.properties.statusMessage)) : null),
          h('td', null, fmtDateTime(e.eventTimestamp)),
          h('td', null, e.caller),
          h('td', null, e.httpRequest.clientIpAddress))),
        empty: t('activity.empty'),
      }),
    ],
  }));
}
