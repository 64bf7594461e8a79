// Backup items of a vault (with the "…" context menu) and one item's
// details: its state, policy and next scheduled backup, recovery points.

import { h, table, essentials } from '../dom.js';
import { icon } from '../icons.js';
import { t, fmtDateTime, errorText, errorKnown, errorCarriesText, recommendationText } from '../i18n.js';
import { get, list, vaultPath, itemPath, after, parseId, permissionsAt, ACTIONS, BACKUP_API } from '../api.js';
import { show, loading, showError, blade, toolbar, denied, setTitle, vaultMenu, vaultCrumbs, orShowError } from '../layout.js';
import { href } from '../router.js';
import { contextMenu } from '../menu.js';
import { describeNextRun } from '../policy.js';
import { itemActions, allowed } from './item-actions.js';

/** "Last backup status" as the portal shows it. */
export function lastBackupStatus(p) {
  if (!p.lastBackupStatus) {
    return p.protectionState === 'IRPending' ? t('state.initialPending') : '—';
  }
  return t(`lastBackup.${p.lastBackupStatus}`);
}

export function stateLabel(p) {
  if (p.isScheduledForDeferredDelete) return t('state.SoftDeleted');
  return t(`state.${p.protectionState}`);
}

/** Tier of a recovery point: Snapshot, Vault-Standard, or both. */
export function tierLabel(rp) {
  const tiers = (rp.properties.recoveryPointTierDetails || []).filter((x) => x.status === 'Valid').map((x) => x.type);
  const snap = tiers.includes('InstantRP');
  const vault = tiers.includes('HardenedRP');
  if (snap && vault) return t('tier.both');
  if (snap) return t('tier.snapshot');
  if (vault) return t('tier.vault');
  return '—';
}

/** A recovery point's verification: Damaged (with what), Verified, Not verified. */
export function verifyCell(rp) {
  const v = rp.properties.rsvaultVerify || {};
  const st = v.status || 'NotVerified';
  if (st === 'Damaged') {
    // What the verify found, in the server's words (marked as such).
    const why = v.damage ? errorText(null, v.damage) : '';
    return h('span', { class: 'status st-Failed rp-damaged', title: why }, icon('warning'), ' ', t('rp.verify.Damaged'),
      h('span', { class: 'sr-only' }, `: ${why}`));
  }
  if (st === 'Intact') return h('span', { class: 'status st-Completed' }, icon('check'), ' ', t('rp.verify.Intact'));
  return h('span', { class: 'muted' }, t('rp.verify.NotVerified'));
}

/** The item's health details (damaged points, guest agent) with the recommended actions. */
function healthBox(p) {
  const details = p.healthDetails || [];
  if (!details.length || p.healthStatus === 'Passed') return null;
  return h('section', { class: p.healthStatus === 'ActionRequired' ? 'error-box' : 'info-box', role: 'alert' },
    details.map((d) => {
      // In Japanese, the portal's wording of the finding's code, the
      // server's own text after it (marked as the server's).
      const known = errorKnown(d.code);
      const more = known && !errorCarriesText(d.code) && d.message ? t('err.serverSaid', { text: d.message, code: d.code }) : null;
      return h('div', null,
        known
          ? h('p', null, h('strong', null, errorText(d.code, d.message)))
          : h('p', null, h('strong', null, errorText(d.code, d.title || t('item.health'))), ': ', errorText(null, d.message || '')),
        more ? h('p', { class: 'muted' }, more) : null,
        (d.recommendations || []).length
          ? h('ul', null, [...new Set(d.recommendations.map((r) => recommendationText(d.code, r)))].map((r) => h('li', null, r)))
          : null);
    }));
}

export function consistencyLabel(type) {
  return t(`consistency.${type}`);
}

export function itemHref(rg, vault, item) {
  return `${href('vaults', rg, vault)}/items/${encodeURIComponent(after(item.id, 'protectionContainers'))}/${encodeURIComponent(item.name)}`;
}

export async function itemsView({ rg, name }, query, ctx) {
  const title = t('items.title');
  setTitle(`${title} - ${name}`);
  loading(ctx, title);
  const vp = vaultPath(rg, name);
  const got = await orShowError(ctx, title, () => Promise.all([list(`${vp}/backupProtectedItems`, BACKUP_API), permissionsAt(vp)]));
  if (got === undefined) return;
  const [items, can] = got;
  const reload = () => itemsView({ rg, name }, query, ctx);
  const rows = items.map((i) => {
    const p = i.properties;
    const actions = itemActions(i, { vp, rg, vault: name, can, onChanged: () => ctx.alive && reload() });
    return h('tr', null,
      h('td', null, h('a', { href: itemHref(rg, name, i) }, p.friendlyName)),
      h('td', null, parseId(p.virtualMachineId).resourceGroup),
      h('td', null, stateLabel(p)),
      h('td', { class: p.protectionState === 'IRPending' && !p.lastBackupStatus ? 'warn' : null }, lastBackupStatus(p)),
      h('td', null, fmtDateTime(p.lastRecoveryPoint)),
      h('td', null, p.policyName || '—'),
      h('td', null, contextMenu({
        label: t('items.moreActions', { name: p.friendlyName }),
        items: [
          ...actions.map((a) => ({ label: a.label, disabled: a.disabled, onSelect: a.run })),
          { label: t('restore.title'), disabled: !allowed(p, can).restore, onSelect: () => { location.hash = `${itemHref(rg, name, i)}/restore`; } },
        ],
      })));
  });
  show(ctx, blade({
    crumbs: vaultCrumbs(rg, name, [title]),
    title,
    subtitle: name,
    menu: vaultMenu(rg, name, 'items'),
    tools: toolbar([
      denied(can, ACTIONS.protect, { label: t('vault.backup'), icon: 'plus', href: `${href('vaults', rg, name)}/backup` }),
      { label: t('common.refresh'), icon: 'refresh', onClick: reload },
    ]),
    body: [
      h('h2', null, t('items.azureVm')),
      table({
        caption: t('items.azureVm'),
        head: [t('common.name'), t('common.resourceGroup'), t('items.protectionState'), t('items.lastBackupStatus'), t('items.latestRp'), t('policy.title'), h('span', { class: 'sr-only' }, t('common.actions'))],
        rows,
        empty: t('items.empty'),
      }),
    ],
  }));
  if (items.some((i) => i.properties.lastBackupStatus === 'InProgress')) ctx.poll(() => { reload(); return false; }, 2000);
}

/** The body of an item's details: essentials, recovery points. Shared with the VM's Backup blade. */
export async function itemDetails(item, { vp, rg, vault }) {
  const p = item.properties;
  const container = after(item.id, 'protectionContainers');
  const path = itemPath(vp, container, item.name);
  let policy = null;
  let rps = [];
  const [pol, points] = await Promise.allSettled([
    p.policyName ? get(`${vp}/backupPolicies/${encodeURIComponent(p.policyName)}`, BACKUP_API) : Promise.resolve(null),
    list(`${path}/recoveryPoints`, BACKUP_API),
  ]);
  if (pol.status === 'fulfilled') policy = pol.value;
  if (points.status === 'fulfilled') rps = points.value;
  rps.sort((a, b) => String(b.properties.recoveryPointTime).localeCompare(String(a.properties.recoveryPointTime)));
  const vbase = href('vaults', rg, vault);
  const ih = itemHref(rg, vault, item);
  const vmId = parseId(p.virtualMachineId);
  const vmKind = /classiccompute/i.test(p.virtualMachineId || '') ? 'classic' : 'compute';
  const active = p.protectionState === 'Protected' || p.protectionState === 'IRPending';
  const damaged = rps.filter((rp) => (rp.properties.rsvaultVerify || {}).status === 'Damaged').length;
  return [
    healthBox(p),
    h('h2', null, t('item.summary')),
    essentials([
      [t('item.vault'), h('a', { href: vbase }, vault)],
      [t('policy.title'), policy ? h('a', { href: `${vbase}/policies/${encodeURIComponent(policy.name)}` }, policy.name) : (p.policyName || '—')],
      [t('policy.nextBackup'), p.extendedInfo?.nextScheduledBackupTime ? fmtDateTime(p.extendedInfo.nextScheduledBackupTime)
        : (policy && active && !p.isScheduledForDeferredDelete ? describeNextRun(policy) : '—')],
      [t('items.lastBackupStatus'), h('span', { class: p.protectionState === 'IRPending' && !p.lastBackupStatus ? 'warn' : null }, lastBackupStatus(p))],
      [t('item.lastBackupTime'), fmtDateTime(p.lastBackupTime)],
      [t('items.protectionState'), stateLabel(p)],
      [t('items.latestRp'), fmtDateTime(p.lastRecoveryPoint)],
      [t('item.health'), h('span', { class: p.healthStatus === 'ActionRequired' ? 'warn' : null }, t(`health.${p.healthStatus || 'Passed'}`))],
      [t('item.vm'), h('a', { href: href('vms', vmKind, vmId.resourceGroup, vmId.name) }, p.friendlyName)],
      p.isScheduledForDeferredDelete ? [t('item.deleteAt'), fmtDateTime(p.deferredDeleteTimeInUTC)] : null,
    ], t('item.summary')),
    h('p', null, h('a', { href: `${vbase}/jobs?item=${encodeURIComponent(p.friendlyName)}` }, t('item.viewJobs'))),
    h('h2', null, t('rp.title')),
    damaged ? h('p', { class: 'warn' }, icon('warning'), ' ', t('rp.damagedNote', { n: damaged })) : null,
    table({
      caption: t('rp.title'),
      head: [t('rp.time'), t('rp.consistency'), t('rp.tier'), t('rp.verify'), h('span', { class: 'sr-only' }, t('common.actions'))],
      rows: rps.map((rp) => h('tr', { class: (rp.properties.rsvaultVerify || {}).status === 'Damaged' ? 'damaged' : null, dataset: { rp: rp.name } },
        h('td', null, fmtDateTime(rp.properties.recoveryPointTime)),
        h('td', null, consistencyLabel(rp.properties.recoveryPointType)),
        h('td', null, tierLabel(rp)),
        h('td', null, verifyCell(rp)),
        h('td', null, h('a', { href: `${ih}/restore?rp=${encodeURIComponent(rp.name)}`, 'aria-label': `${t('restore.title')}: ${fmtDateTime(rp.properties.recoveryPointTime)}` }, t('restore.title'))))),
      empty: t('rp.empty'),
    }),
  ];
}

/** The toolbar of an item: its actions plus Restore VM and Refresh. */
export function itemToolbar(item, { vp, rg, vault, reload, can }) {
  const actions = itemActions(item, { vp, rg, vault, can, onChanged: reload });
  const a = allowed(item.properties, can);
  return toolbar([
    actions[0],
    { label: t('restore.title'), icon: 'restore', href: `${itemHref(rg, vault, item)}/restore`, disabled: !a.restore },
    ...actions.slice(1),
    { label: t('common.refresh'), icon: 'refresh', onClick: reload },
  ].map((x) => ({ ...x, onClick: x.onClick || x.run })));
}

export async function itemView({ rg, name, container, item }, query, ctx) {
  setTitle(item);
  loading(ctx, item);
  const vp = vaultPath(rg, name);
  let it;
  let body;
  let can;
  try {
    [it, can] = await Promise.all([get(itemPath(vp, container, item), BACKUP_API), permissionsAt(vp)]);
    body = await itemDetails(it, { vp, rg, vault: name });
  } catch (e) {
    showError(ctx, item, e);
    return;
  }
  const reload = () => ctx.alive && itemView({ rg, name, container, item }, query, ctx);
  show(ctx, blade({
    crumbs: vaultCrumbs(rg, name, [t('items.title'), `${href('vaults', rg, name)}/items`], [it.properties.friendlyName]),
    title: it.properties.friendlyName,
    subtitle: t('item.kind'),
    menu: vaultMenu(rg, name, 'items'),
    tools: itemToolbar(it, { vp, rg, vault: name, reload, can }),
    body,
  }));
  if (it.properties.lastBackupStatus === 'InProgress') ctx.poll(() => { reload(); return false; }, 2000);
}
