// Virtual machines: the subscription's VMs (filtered as you type), a VM's
// overview, and its own Backup blade: enable backup (existing or new vault,
// a policy), then the backup item's details.

import { h, field, select, table, essentials, newId, errorSlot } from '../dom.js';
import { t, regionName } from '../i18n.js';
import {
  get, list, request, listVms, listVaults, vmPath, vaultPath, parseId, findProtection, VAULT_API, BACKUP_API, COMPUTE_API, permissionsAt,
} from '../api.js';
import { show, loading, showError, blade, toolbar, setTitle, resourceMenu, orShowError } from '../layout.js';
import { href } from '../router.js';
import { deployment } from '../notifications.js';
import { vaultNameError } from './vaults.js';
import { discoverVms, protectVm, policyPicker } from './backup.js';
import { openPolicyEditor } from './policy-editor.js';
import { itemDetails, itemToolbar } from './items.js';

const kindOf = (vm) => (/classiccompute/i.test(vm.type || vm.id) ? 'classic' : 'compute');

export function powerState(vm) {
  const s = ((vm.properties.instanceView || {}).statuses || []).map((x) => x.code).find((c) => /^PowerState\//.test(c));
  return s ? t(`power.${s.split('/')[1]}`) : '—';
}

function vmMenu(kind, rg, name, active) {
  const base = href('vms', kind, rg, name);
  return resourceMenu(t('vm.menu', { name }), [
    [null, [['overview', t('vm.overview'), base]]],
    [t('vm.sec.operations'), [['backup', t('vm.backup'), `${base}/backup`]]],
  ], active);
}

function vmCrumbs(kind, rg, name, ...more) {
  return [[t('nav.vms'), '#/vms'], [name, href('vms', kind, rg, name)], ...more];
}

export async function vmListView(params, query, ctx) {
  const title = t('nav.vms');
  setTitle(title);
  loading(ctx, title);
  const vms = await orShowError(ctx, title, () => listVms());
  if (vms === undefined) return;
  const filter = h('input', { type: 'search', class: 'filter', placeholder: t('common.filterPlaceholder'), value: query.get('q') || '' });
  const holder = h('div');
  const count = h('p', { class: 'muted', role: 'status' });
  const draw = () => {
    const q = filter.value.trim().toLowerCase();
    const shown = vms.filter((v) => v.name.toLowerCase().includes(q));
    count.textContent = t('common.showing', { n: shown.length, total: vms.length });
    holder.replaceChildren(table({
      caption: title,
      head: [t('common.name'), t('vm.kind'), t('common.resourceGroup'), t('common.location'), t('vm.status')],
      rows: shown.map((v) => {
        const rg = parseId(v.id).resourceGroup;
        return h('tr', null,
          h('td', null, h('a', { href: href('vms', kindOf(v), rg, v.name) }, v.name)),
          h('td', null, kindOf(v) === 'classic' ? t('vm.classic') : t('vm.arm')),
          h('td', null, rg),
          h('td', null, regionName(v.location)),
          h('td', null, powerState(v)));
      }),
      empty: t('vms.empty'),
    }));
  };
  filter.addEventListener('input', draw);
  draw();
  show(ctx, blade({
    crumbs: [[title, '#/vms']],
    title,
    tools: toolbar([{ label: t('common.refresh'), icon: 'refresh', onClick: () => vmListView(params, query, ctx) }]),
    body: [field({ label: t('common.filterByName'), control: filter }), count, holder],
  }));
  filter.focus();
}

export async function vmOverviewView({ kind, rg, name }, query, ctx) {
  setTitle(name);
  loading(ctx, name);
  const vm = await orShowError(ctx, name, () => get(`${vmPath(kind, rg, name)}?$expand=instanceView`, COMPUTE_API));
  if (vm === undefined) return;
  const sp = vm.properties.storageProfile || {};
  const disks = [sp.osDisk, ...(sp.dataDisks || [])].filter(Boolean).map((d) => d.name || (d.managedDisk && parseId(d.managedDisk.id).name)).join(t('common.listSep'));
  show(ctx, blade({
    crumbs: vmCrumbs(kind, rg, name),
    title: name,
    subtitle: kind === 'classic' ? t('vm.classic') : t('vm.arm'),
    menu: vmMenu(kind, rg, name, 'overview'),
    tools: toolbar([{ label: t('vm.backup'), icon: 'shield', href: `${href('vms', kind, rg, name)}/backup` }]),
    body: essentials([
      [t('common.resourceGroup'), rg],
      [t('vm.status'), powerState(vm)],
      [t('common.location'), regionName(vm.location)],
      [t('common.subscription'), parseId(vm.id).subscription],
      [t('vm.size'), (vm.properties.hardwareProfile || {}).vmSize],
      [t('vm.os'), (sp.osDisk || {}).osType],
      [t('vm.disks'), disks],
    ], t('common.essentials')),
  }));
}

/** DefaultPolicy as every new vault gets it (shown before the vault exists). */
function defaultPolicy() {
  const time = '2020-04-28T21:00:00Z';
  return {
    name: 'DefaultPolicy',
    properties: {
      backupManagementType: 'AzureIaasVM',
      policyType: 'V1',
      schedulePolicy: { schedulePolicyType: 'SimpleSchedulePolicy', scheduleRunFrequency: 'Daily', scheduleRunTimes: [time] },
      retentionPolicy: { retentionPolicyType: 'LongTermRetentionPolicy', dailySchedule: { retentionTimes: [time], retentionDuration: { count: 30, durationType: 'Days' } } },
      instantRpRetentionRangeInDays: 2,
      timeZone: 'UTC',
    },
  };
}

export async function vmBackupView({ kind, rg, name }, query, ctx) {
  const title = t('vm.backup');
  setTitle(`${title} - ${name}`);
  loading(ctx, title);
  let vm;
  let found;
  let vaults;
  try {
    vm = await get(`${vmPath(kind, rg, name)}?$expand=instanceView`, COMPUTE_API);
    [found, vaults] = await Promise.all([findProtection(vm), listVaults()]);
  } catch (e) {
    showError(ctx, title, e);
    return;
  }
  const reload = () => ctx.alive && vmBackupView({ kind, rg, name }, query, ctx);
  const page = (tools, body) => show(ctx, blade({
    crumbs: vmCrumbs(kind, rg, name, [title]),
    title,
    subtitle: name,
    menu: vmMenu(kind, rg, name, 'backup'),
    tools,
    body,
  }));

  if (found) {
    const vid = parseId(found.vault.id);
    const vp = vaultPath(vid.resourceGroup, found.vault.name);
    const body = await orShowError(ctx, title, () => itemDetails(found.item, { vp, rg: vid.resourceGroup, vault: found.vault.name }));
    if (body === undefined) return;
    const can = await permissionsAt(vp);
    page(itemToolbar(found.item, { vp, rg: vid.resourceGroup, vault: found.vault.name, reload, can }), body);
    if (found.item.properties.lastBackupStatus === 'InProgress') ctx.poll(() => { reload(); return false; }, 2000);
    return;
  }

  // --- Enable backup ---
  const sameRegion = vaults.filter((v) => v.location.toLowerCase() === vm.location.toLowerCase());
  const group = newId('vault');
  const useExisting = h('input', { type: 'radio', name: group, value: 'existing', checked: sameRegion.length > 0, disabled: !sameRegion.length });
  const createNew = h('input', { type: 'radio', name: group, value: 'new', checked: !sameRegion.length });
  const vaultSel = select(sameRegion.map((v) => ({ value: v.id, label: v.name })), sameRegion[0] && sameRegion[0].id);
  const vaultSelField = field({ label: t('vmBackup.chooseVault'), control: vaultSel });
  const newName = h('input', { type: 'text', value: `vault-${name}`.slice(0, 50).replace(/[^A-Za-z0-9-]/g, '-'), spellcheck: 'false', autocomplete: 'off' });
  const newNameField = field({ label: t('vmBackup.newVaultName'), control: newName, required: true, hint: t('vmBackup.newVaultHint', { rg, region: regionName(vm.location) }) });
  const allNames = vaults.map((v) => v.name);
  newName.addEventListener('input', () => newNameField.setError(vaultNameError(newName.value.trim(), allNames)));
  const vaultSet = h('fieldset', { class: 'group' },
    h('legend', null, t('vmBackup.vault')),
    h('div', { class: 'radio-row' },
      h('label', null, createNew, ' ', t('common.createNew')),
      h('label', null, useExisting, ' ', t('vmBackup.selectExisting'))),
    vaultSelField, newNameField);

  const pickerHolder = h('div');
  let picker = null;
  let pending = null;
  const pickerErr = errorSlot();
  async function buildPicker() {
    pending = null;
    pickerErr.set('');
    let policies;
    let vp = null;
    if (createNew.checked) {
      policies = [defaultPolicy()];
    } else {
      const v = sameRegion.find((x) => x.id === vaultSel.value);
      const vid = parseId(v.id);
      vp = vaultPath(vid.resourceGroup, v.name);
      try {
        policies = (await list(`${vp}/backupPolicies`, BACKUP_API)).filter((p) => p.properties.backupManagementType === 'AzureIaasVM');
      } catch (e) {
        pickerErr.set(e.message);
        return;
      }
    }
    picker = policyPicker({
      policies,
      label: t('vmBackup.choosePolicy'),
      createLabel: t('vmBackup.createPolicy'),
      onCreate: () => openPolicyEditor({
        vaultPath: vp,
        existing: policies.map((p) => p.name),
        save: !createNew.checked,
        onSaved: (p) => {
          if (p.pending) pending = p;
          picker.add(p);
        },
      }),
    });
    pickerHolder.replaceChildren(picker.el);
  }
  const syncVault = () => {
    vaultSelField.hidden = !useExisting.checked;
    newNameField.hidden = !createNew.checked;
    buildPicker();
  };
  for (const c of [useExisting, createNew, vaultSel]) c.addEventListener('change', syncVault);

  const enable = h('button', { type: 'submit', class: 'primary' }, t('backup.enable'));
  const formErr = errorSlot();
  const form = h('form', { class: 'form', novalidate: true, 'aria-label': t('vmBackup.enableTitle') },
    h('p', null, t('vmBackup.intro', { name, region: regionName(vm.location) })),
    vaultSet,
    h('fieldset', { class: 'group' }, h('legend', null, t('policy.title')), pickerHolder, pickerErr),
    formErr,
    h('div', { class: 'form-actions' }, enable));

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    formErr.set('');
    let vaultRg = rg;
    let vaultName;
    if (createNew.checked) {
      vaultName = newName.value.trim();
      const err = vaultNameError(vaultName, allNames);
      newNameField.setError(err);
      if (err) {
        newName.focus();
        return;
      }
    } else {
      const v = sameRegion.find((x) => x.id === vaultSel.value);
      vaultRg = parseId(v.id).resourceGroup;
      vaultName = v.name;
    }
    const policy = picker && picker.value;
    if (!policy) {
      pickerErr.set(t('vmBackup.err.policy'));
      return;
    }
    enable.disabled = true;
    const vp = vaultPath(vaultRg, vaultName);
    const d = deployment(t('vmBackup.deploying', { name, vault: vaultName }));
    try {
      if (createNew.checked) {
        await request('PUT', vp, { apiVersion: VAULT_API, body: { location: vm.location, sku: { name: 'Standard' }, properties: { publicNetworkAccess: 'Enabled' } } });
      }
      let policyId = `${vp}/backupPolicies/${encodeURIComponent(policy.name)}`;
      if (pending && pending.name === policy.name) {
        const r = await request('PUT', policyId, { apiVersion: BACKUP_API, body: { properties: pending.properties } });
        policyId = r.body.id;
      } else if (policy.id) policyId = policy.id;
      const items = await discoverVms(vp);
      const mine = items.find((p) => (p.properties.virtualMachineId || '').toLowerCase() === vm.id.toLowerCase());
      if (!mine) throw new Error(t('vmBackup.err.notProtectable', { name }));
      await protectVm(vp, mine, policyId);
    } catch (err) {
      d.failed(err);
      formErr.set(err.code ? `(${err.code}) ${err.message}` : err.message);
      enable.disabled = false;
      return;
    }
    d.succeeded(t('vmBackup.deployed', { name, vault: vaultName }), { href: `${href('vms', kind, rg, name)}/backup`, label: t('vm.backup') });
    reload();
  });

  vaultSelField.hidden = !useExisting.checked;
  newNameField.hidden = !createNew.checked;
  await buildPicker();
  page(null, [h('h2', null, t('vmBackup.enableTitle')), form]);
}

