// One vault: its dashboard (overview), Backup infrastructure → Backup
// configuration (storage replication), and its backup policies.

import { h, table, essentials, errorSlot, newId } from '../dom.js';
import { t, regionName, fmtDateTime, fmtBytes } from '../i18n.js';
import { get, list, request, vaultPath, parseId, jobOf, permissionsAt, ACTIONS, VAULT_API, BACKUP_API } from '../api.js';
import { show, loading, showError, blade, toolbar, denied, setTitle, vaultMenu, vaultCrumbs, orShowError } from '../layout.js';
import { href, navigate } from '../router.js';
import { notify, deployment, followJob } from '../notifications.js';
import { statusCell } from './jobs.js';
import { confirmDialog } from '../dialog.js';
import { describePolicy, describeSchedule, describeNextRun } from '../policy.js';
import { openPolicyEditor } from './policy-editor.js';

/** The item's state as the portal words it (IRPending → the initial-backup warning). */
export function itemStateKey(p) {
  if (p.isScheduledForDeferredDelete) return 'SoftDeleted';
  return p.protectionState || 'Unknown';
}

const DAY_NAMES = { mon: 'Monday', tue: 'Tuesday', wed: 'Wednesday', thu: 'Thursday', fri: 'Friday', sat: 'Saturday', sun: 'Sunday' };

/** A verify schedule ("sun 03:00", "daily 02:30", "mon,thu 01:00", "off") in words. */
export function describeVerifySchedule(s) {
  const m = /^(\S+) (\d\d:\d\d)$/.exec(s || '');
  if (!m) return t('verify.off');
  if (m[1] === 'daily') return t('verify.daily', { time: m[2] });
  const days = m[1].split(',').map((d) => t(`day.${DAY_NAMES[d] || d}`)).join(', ');
  return t('verify.weekly', { days, time: m[2] });
}

/** The vault's "Verify" section: schedule, next and last verify, damaged points. */
function verifySection(vault, base) {
  const v = vault.properties.rsvaultVerify || {};
  const last = v.lastVerify;
  const schedule = describeVerifySchedule(v.effectiveSchedule);
  const id = newId('verify');
  return h('section', { class: 'verify', 'aria-labelledby': id },
    h('h2', { id }, t('verify.title')),
    essentials([
      [t('verify.last'), last ? h('a', { href: `${base}/jobs/${encodeURIComponent(last.jobId)}` }, statusCell(last.status)) : t('verify.never')],
      [t('verify.lastTime'), last ? fmtDateTime(last.endTime || last.startTime) : '—'],
      [t('verify.damaged'), h('span', { class: v.damagedRecoveryPointCount ? 'warn' : null }, String(v.damagedRecoveryPointCount || 0))],
      [t('verify.schedule'), v.scheduleSource === 'Vault' ? schedule : t('verify.scheduleDefault', { schedule })],
      [t('verify.next'), v.nextVerifyTime ? fmtDateTime(v.nextVerifyTime) : '—'],
    ], t('verify.title')));
}

/** Verify now: starts the vault's verify job and follows it in the notifications. */
/** The replication rows of a geo-redundant vault (`rsvaultReplication`). */
export function replicationRows(cfg) {
  const r = cfg.properties.rsvaultReplication;
  if (!r) return [];
  const rows = [
    [t('repl.secondary'), regionName(r.secondaryRegion)],
    [t('repl.state'), t(`repl.state.${r.state}`)],
    [t('repl.pending'), String(r.pendingRecoveryPoints || 0)],
    [t('repl.lag'), t('repl.lagValue', { n: r.lagInSeconds || 0 })],
    [t('repl.lastSync'), r.lastSyncTime ? fmtDateTime(r.lastSyncTime) : '—'],
  ];
  if (r.lastError) rows.push([t('repl.lastError'), r.lastError]);
  return rows;
}

async function verifyNow(rg, name, onDone) {
  const vp = vaultPath(rg, name);
  const base = href('vaults', rg, name);
  const d = deployment(t('verify.deploying', { name }));
  let job;
  try {
    job = await jobOf(await request('POST', `${vp}/verify`, { apiVersion: BACKUP_API }));
  } catch (e) {
    d.failed(e);
    return;
  }
  d.succeeded(t('verify.deployed', { name }), { href: `${base}/jobs`, label: t('jobs.title') });
  onDone();
  if (!job) return;
  const op = t('op.Verify');
  await followJob(vp, job, {
    running: t('job.note.running', { op, name }),
    completed: t('job.note.completed', { op, name }),
    failed: t('job.note.failed', { op, name }),
  }, { href: `${base}/jobs/${encodeURIComponent(job)}`, label: t('jobs.details') });
  onDone();
}

export async function vaultOverviewView({ rg, name }, query, ctx) {
  setTitle(name);
  loading(ctx, name);
  const vp = vaultPath(rg, name);
  let vault;
  let items;
  let jobs;
  let storage;
  let can;
  let usages;
  try {
    [vault, items, jobs, storage, can] = await Promise.all([
      get(vp, VAULT_API),
      list(`${vp}/backupProtectedItems`, BACKUP_API),
      list(`${vp}/backupJobs`, BACKUP_API),
      get(`${vp}/backupstorageconfig/vaultstorageconfig`, BACKUP_API),
      permissionsAt(vp),
    ]);
    usages = await list(`${vp}/usages`, VAULT_API).catch(() => null);
  } catch (e) {
    showError(ctx, name, e);
    return;
  }
  const since = Date.now() - 24 * 3600 * 1000;
  const recent = jobs.filter((j) => new Date(j.properties.startTime).getTime() >= since);
  const count = (st) => recent.filter((j) => j.properties.status === st).length;
  const byState = {};
  for (const i of items) {
    const k = itemStateKey(i.properties);
    byState[k] = (byState[k] || 0) + 1;
  }
  const sd = ((vault.properties.securitySettings || {}).softDeleteSettings) || {};
  const base = href('vaults', rg, name);
  const itemsTileId = newId('tile');
  const jobsTileId = newId('tile');
  const body = [
    essentials([
      [t('common.resourceGroup'), rg],
      [t('common.location'), regionName(vault.location)],
      [t('common.subscription'), parseId(vault.id).subscription],
      [t('config.replication'), t(`redundancy.${storage.properties.storageType}`)],
      ...(storage.properties.rsvaultReplication ? [
        [t('repl.state'), `${t(`repl.state.${storage.properties.rsvaultReplication.state}`)} (${regionName(storage.properties.rsvaultReplication.secondaryRegion)})`],
        [t('config.crr'), storage.properties.crossRegionRestoreFlag ? t('common.enabled') : t('common.disabled')],
      ] : []),
      [t('config.softDelete'), sd.softDeleteState === 'Disabled' ? t('common.disabled') : t('config.softDeleteOn', { n: sd.softDeleteRetentionPeriodInDays })],
    ], t('common.essentials')),
    h('div', { class: 'tiles' },
      h('section', { class: 'tile', 'aria-labelledby': itemsTileId },
        h('h2', { id: itemsTileId }, h('a', { href: `${base}/items` }, t('items.title'))),
        table({
          caption: t('items.title'),
          head: [t('items.managementType'), t('items.count')],
          rows: [h('tr', null, h('td', null, t('items.azureVm')), h('td', null, h('a', { href: `${base}/items`, 'aria-label': `${t('items.azureVm')}: ${items.length}` }, String(items.length))))],
          empty: '',
        }),
        h('ul', { class: 'state-counts' },
          ['Protected', 'IRPending', 'BackupsSuspended', 'ProtectionStopped', 'SoftDeleted'].map((k) => h('li', null,
            h('span', { class: ['dot', `dot-${k}`], 'aria-hidden': 'true' }), `${t(`state.${k}`)}: `, h('strong', null, String(byState[k] || 0)))))),
      h('section', { class: 'tile', 'aria-labelledby': jobsTileId },
        h('h2', { id: jobsTileId }, h('a', { href: `${base}/jobs` }, t('jobs.title'))),
        h('p', { class: 'muted' }, t('jobs.last24h')),
        h('ul', { class: 'job-counts' },
          h('li', null, h('a', { href: `${base}/jobs?status=InProgress` }, `${t('status.InProgress')}: ${count('InProgress')}`)),
          h('li', null, h('a', { href: `${base}/jobs?status=Failed` }, `${t('status.Failed')}: ${count('Failed')}`)),
          h('li', null, h('a', { href: `${base}/jobs?status=Completed` }, `${t('status.Completed')}: ${count('Completed')}`))))),
    usages ? usageTile(usages, storage.properties.rsvaultReplication, items) : null,
    verifySection(vault, base),
  ];
  const reload = () => ctx.alive && vaultOverviewView({ rg, name }, query, ctx);
  show(ctx, blade({
    crumbs: vaultCrumbs(rg, name),
    title: name,
    subtitle: t('vault.kind'),
    menu: vaultMenu(rg, name, 'overview'),
    tools: toolbar([
      denied(can, ACTIONS.protect, { label: t('vault.backup'), icon: 'plus', href: `${base}/backup` }),
      denied(can, ACTIONS.verify, { label: t('verify.now'), icon: 'shield', onClick: () => verifyNow(rg, name, reload) }),
      { label: t('common.refresh'), icon: 'refresh', onClick: reload },
      denied(can, ACTIONS.deleteVault, { label: t('common.delete'), icon: 'trash', onClick: () => deleteVault(rg, name) }),
    ]),
    body,
  }));
}

/**
 * Backup usage, as the seed's pricing section bills it: protected
 * instances by size band, and the storage the vault's store occupies after
 * deduplication and compression beside what was backed up.
 */
/** The instances a VM of `bytes` counts as, in Azure's bands, as words. */
export function bandOf(bytes) {
  const GB = 1e9;
  if (bytes <= 50 * GB) return t('usage.band.small');
  if (bytes <= 500 * GB) return t('usage.band.standard');
  return t('usage.band.large', { n: Math.ceil(bytes / (500 * GB)) });
}

/** Each backup item's share: its size band, points and data backed up. */
function itemUsageTable(items) {
  return table({
    caption: t('usage.perItem'),
    hideCaption: false,
    head: [t('usage.item'), t('usage.band'), t('usage.protectedSize'), t('usage.points'), t('usage.backedUp')],
    rows: items.map((i) => {
      const p = i.properties;
      const ext = p.extendedInfo || {};
      const size = Number(ext.rsvaultProtectedBytes) || 0;
      return h('tr', null,
        h('td', null, p.friendlyName),
        h('td', null, ext.rsvaultProtectedBytes === undefined ? '—' : bandOf(size)),
        h('td', { class: 'num' }, ext.rsvaultProtectedBytes === undefined ? '—' : fmtBytes(size)),
        h('td', { class: 'num' }, String(ext.recoveryPointCount || 0)),
        h('td', { class: 'num' }, fmtBytes(ext.rsvaultBackedUpBytes || 0)));
    }),
    empty: t('items.empty'),
  });
}

function usageTile(usages, repl, items) {
  const entry = (k) => usages.find((x) => x.name && x.name.value === k);
  const v = (k) => (entry(k) ? Number(entry(k).currentValue) || 0 : 0);
  const instances = v('ProtectedInstanceCount');
  const small = v('SmallProtectedInstanceCount');
  const stored = v('GRSStorageUsage') + v('LRSStorageUsage');
  const backedUp = v('BackedUpBytes');
  const saving = backedUp > 0 && stored < backedUp ? Math.round((1 - stored / backedUp) * 100) : null;
  const id = newId('tile');
  return h('section', { class: 'tile usage-tile', 'aria-labelledby': id },
    h('h2', { id }, t('usage.title')),
    essentials([
      [t('usage.instances'), t('usage.instancesOf', { n: instances, small, large: instances - small })],
      [t('usage.protectedSize'), fmtBytes(v('ProtectedBytes'))],
      [t('usage.points'), String(v('RecoveryPointCount'))],
      [t('usage.stored'), fmtBytes(stored)],
      [t('usage.backedUp'), fmtBytes(backedUp)],
      [t('usage.saving'), saving === null ? '—' : t('usage.savingOf', { pct: saving })],
      // A geo-redundant vault's copy in its secondary region.
      repl ? [t('usage.secondaryCopy'), t(entry('SecondaryStorageUsage') ? 'usage.secondaryOfSize' : 'usage.secondaryOf',
        { region: regionName(repl.secondaryRegion), state: t(`repl.state.${repl.state}`), size: fmtBytes(v('SecondaryStorageUsage')) })] : null,
      repl ? [t('usage.replicationLag'), t('usage.lagOf', { n: repl.lagInSeconds || 0, pending: repl.pendingRecoveryPoints || 0 })] : null,
    ], t('usage.title')),
    items.length ? itemUsageTable(items) : null,
    h('p', { class: 'muted' }, t('usage.bands')));
}

async function deleteVault(rg, name) {
  const ok = await confirmDialog({
    title: t('vault.deleteTitle'),
    message: t('vault.deleteConfirm', { name }),
    confirmLabel: t('common.delete'),
  });
  if (!ok) return;
  try {
    await request('DELETE', vaultPath(rg, name), { apiVersion: VAULT_API });
    notify({ title: t('vault.deleted', { name }), status: 'success' });
    navigate('#/vaults');
  } catch (e) {
    notify({ title: t('vault.deleteFailed', { name }), message: e.message, status: 'error' });
  }
}

export async function infrastructureView({ rg, name }, query, ctx) {
  const title = t('infra.title');
  setTitle(`${title} - ${name}`);
  loading(ctx, title);
  const vp = vaultPath(rg, name);
  const items = await orShowError(ctx, title, () => list(`${vp}/backupProtectedItems`, BACKUP_API));
  if (items === undefined) return;
  const base = href('vaults', rg, name);
  show(ctx, blade({
    crumbs: vaultCrumbs(rg, name, [title]),
    title,
    subtitle: name,
    menu: vaultMenu(rg, name, 'infrastructure'),
    body: [
      h('h2', null, t('vault.sec.manage')),
      h('ul', { class: 'link-list' },
        h('li', null, h('a', { href: `${base}/infrastructure/config` }, t('config.title')), h('p', { class: 'muted' }, t('config.intro')))),
      h('h2', null, t('infra.azureVms')),
      essentials([[t('infra.protectedItems'), String(items.length)]], t('infra.azureVms')),
    ],
  }));
}

export async function backupConfigView({ rg, name }, query, ctx) {
  const title = t('config.title');
  setTitle(`${title} - ${name}`);
  loading(ctx, title);
  const vp = vaultPath(rg, name);
  let cfg;
  let vcfg;
  try {
    [cfg, vcfg] = await Promise.all([
      get(`${vp}/backupstorageconfig/vaultstorageconfig`, BACKUP_API),
      get(`${vp}/backupconfig/vaultconfig`, BACKUP_API),
    ]);
  } catch (e) {
    showError(ctx, title, e);
    return;
  }
  const locked = cfg.properties.storageTypeState === 'Locked';
  const group = newId('repl');
  const lockId = newId('lock');
  const radios = ['GeoRedundant', 'LocallyRedundant'].map((v) => {
    const r = h('input', { type: 'radio', name: group, value: v, checked: cfg.properties.storageType === v });
    return h('label', { class: 'choice' }, r, h('span', null, h('strong', null, t(`redundancy.${v}`)), h('br'), h('span', { class: 'muted' }, t(`redundancy.${v}.desc`))));
  });
  const save = h('button', { type: 'submit', class: 'primary', disabled: locked }, t('common.save'));
  const status = h('p', { role: 'status', class: 'muted' });
  const err = errorSlot();
  const fs = h('fieldset', { disabled: locked, 'aria-describedby': locked ? lockId : null },
    h('legend', null, t('config.replication')), radios);
  const crrOn = cfg.properties.crossRegionRestoreFlag === true;
  const crrBox = h('input', { type: 'checkbox', checked: crrOn, disabled: crrOn });
  const crrHelpId = newId('crr');
  const crrField = h('fieldset', { class: 'field', 'aria-describedby': crrHelpId },
    h('legend', null, t('config.crr')),
    h('label', { class: 'choice' }, crrBox, h('span', null, t('common.enabled'))),
    h('p', { class: 'muted', id: crrHelpId }, crrOn ? t('config.crrEnabled') : t('config.crrHelp')));
  const syncCrr = () => {
    const chosen = form.querySelector(`input[name="${group}"]:checked`);
    const geo = (chosen ? chosen.value : cfg.properties.storageType) === 'GeoRedundant';
    crrField.hidden = !geo;
    if (!crrOn) crrBox.disabled = !geo;
  };
  const canSave = () => {
    save.disabled = locked && (crrOn || !crrBox.checked);
  };
  crrBox.addEventListener('change', canSave);
  const repl = replicationRows(cfg);
  const form = h('form', { class: 'form', novalidate: true },
    locked ? h('div', { class: 'info-box', id: lockId }, h('strong', null, t('config.lockedTitle')), h('p', null, t('config.locked'))) : null,
    h('p', null, t('config.help')),
    fs, crrField, err,
    h('div', { class: 'form-actions' }, save, status),
    repl.length ? h('h2', null, t('repl.title')) : null,
    repl.length ? h('p', { class: 'muted' }, t('repl.note')) : null,
    repl.length ? essentials(repl, t('repl.title')) : null,
    h('h2', null, t('config.securityTitle')),
    essentials([
      [t('config.softDelete'), vcfg.properties.softDeleteFeatureState === 'Disabled' ? t('common.disabled')
        : t('config.softDeleteOn', { n: vcfg.properties.softDeleteRetentionPeriodInDays })],
    ], t('config.securityTitle')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.set('');
    const chosen = form.querySelector(`input[name="${group}"]:checked`);
    if (!chosen) return;
    save.disabled = true;
    const properties = { storageType: chosen.value };
    if (chosen.value === 'GeoRedundant' && crrBox.checked && !crrOn) properties.crossRegionRestoreFlag = true;
    try {
      await request('PATCH', `${vp}/backupstorageconfig/vaultstorageconfig`, { apiVersion: BACKUP_API, body: { properties } });
      status.textContent = t('config.saved');
      notify({ title: t('config.saved'), message: `${name}: ${t(`redundancy.${chosen.value}`)}`, status: 'success' });
      if (properties.crossRegionRestoreFlag) {
        // Enabled for good: as Azure, it cannot be turned off again.
        crrBox.disabled = true;
        document.getElementById(crrHelpId).textContent = t('config.crrEnabled');
      }
    } catch (x) {
      err.set(x.message);
    }
    save.disabled = false;
  });
  for (const r of form.querySelectorAll(`input[name="${group}"]`)) r.addEventListener('change', syncCrr);
  syncCrr();
  canSave();
  show(ctx, blade({
    crumbs: vaultCrumbs(rg, name, [t('infra.title'), `${href('vaults', rg, name)}/infrastructure`], [title]),
    title,
    subtitle: name,
    menu: vaultMenu(rg, name, 'infrastructure'),
    body: form,
  }));
}

export async function policiesView({ rg, name }, query, ctx) {
  const title = t('policies.title');
  setTitle(`${title} - ${name}`);
  loading(ctx, title);
  const vp = vaultPath(rg, name);
  const got = await orShowError(ctx, title, () => Promise.all([list(`${vp}/backupPolicies`, BACKUP_API), permissionsAt(vp)]));
  if (got === undefined) return;
  const [policies, can] = got;
  const base = href('vaults', rg, name);
  show(ctx, blade({
    crumbs: vaultCrumbs(rg, name, [title]),
    title,
    subtitle: name,
    menu: vaultMenu(rg, name, 'policies'),
    tools: toolbar([
      denied(can, ACTIONS.writePolicy, {
        label: t('common.add'),
        icon: 'plus',
        onClick: () => openPolicyEditor({ vaultPath: vp, existing: policies.map((p) => p.name), onSaved: () => policiesView({ rg, name }, query, ctx) }),
      }),
      { label: t('common.refresh'), icon: 'refresh', onClick: () => policiesView({ rg, name }, query, ctx) },
    ]),
    body: table({
      caption: title,
      head: [t('common.name'), t('policy.type'), t('policy.frequency'), t('policy.itemsCount')],
      rows: policies.map((p) => h('tr', null,
        h('td', null, h('a', { href: `${base}/policies/${encodeURIComponent(p.name)}` }, p.name)),
        h('td', null, p.properties.policyType === 'V2' ? t('policy.enhanced') : t('policy.standard')),
        h('td', null, describeSchedule(p.properties)),
        h('td', null, String(p.properties.protectedItemsCount ?? 0)))),
      empty: t('policies.empty'),
    }),
  }));
}

/** The "Backup policy" blade: the policy's details and its next scheduled backup. */
export async function policyDetailsView({ rg, name, policy }, query, ctx) {
  setTitle(policy);
  loading(ctx, policy);
  const vp = vaultPath(rg, name);
  const got = await orShowError(ctx, policy, () => Promise.all([get(`${vp}/backupPolicies/${encodeURIComponent(policy)}`, BACKUP_API), permissionsAt(vp)]));
  if (got === undefined) return;
  const [p, can] = got;
  const inUse = (p.properties.protectedItemsCount || 0) > 0;
  const base = href('vaults', rg, name);
  show(ctx, blade({
    crumbs: vaultCrumbs(rg, name, [t('policies.title'), `${base}/policies`], [policy]),
    title: policy,
    subtitle: t('policy.kind'),
    menu: vaultMenu(rg, name, 'policies'),
    tools: toolbar([
      denied(can, ACTIONS.writePolicy, {
        label: t('policy.modify'),
        icon: 'edit',
        onClick: () => openPolicyEditor({
          vaultPath: vp,
          policy: p,
          onSaved: () => {
            notify({ title: t('policy.modified', { name: policy }), status: 'success' });
            if (ctx.alive) policyDetailsView({ rg, name, policy }, query, ctx);
          },
        }),
      }),
      denied(can, ACTIONS.deletePolicy, {
        label: t('common.delete'),
        icon: 'trash',
        disabled: inUse,
        onClick: async () => {
          const ok = await confirmDialog({ title: t('policy.deleteTitle'), message: t('policy.deleteConfirm', { name: policy }), confirmLabel: t('common.delete') });
          if (!ok) return;
          try {
            await request('DELETE', `${vp}/backupPolicies/${encodeURIComponent(policy)}`, { apiVersion: BACKUP_API });
            navigate(`${base}/policies`);
          } catch (e) {
            notify({ title: t('policy.deleteFailed'), message: e.message, status: 'error' });
          }
        },
      }),
    ]),
    body: [
      essentials([
        [t('policy.nextBackup'), describeNextRun(p)],
        ...describePolicy(p),
        [t('policy.itemsCount'), String(p.properties.protectedItemsCount ?? 0)],
      ], t('common.essentials')),
      inUse ? h('p', { class: 'muted' }, t('policy.inUse')) : null,
    ],
  }));
}
