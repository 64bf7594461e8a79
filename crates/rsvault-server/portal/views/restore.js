// Restore Virtual Machine: pick a recovery point, then Create new (a new
// VM, or disks into a storage account) or Replace existing (the VM's disks).

import { h, field, select, newId, errorSlot } from '../dom.js';
import { t, fmtDateTime, regionName } from '../i18n.js';
import { get, list, request, vaultPath, itemPath, jobOf, waitOperation, parseId, subPath, VAULT_API, BACKUP_API, COMPUTE_API, CRR_API } from '../api.js';
import { show, loading, showError, blade, setTitle, vaultMenu, vaultCrumbs } from '../layout.js';
import { href, navigate } from '../router.js';
import { deployment, followJob } from '../notifications.js';
import { consistencyLabel, tierLabel, itemHref } from './items.js';
import { listAccounts } from './storage.js';

const SA_RE = /^[a-z0-9]{3,24}$/;
const VM_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export async function restoreView({ rg, name, container, item }, query, ctx) {
  const title = t('restore.pageTitle');
  setTitle(title);
  loading(ctx, title);
  const vp = vaultPath(rg, name);
  const path = itemPath(vp, container, item);
  let vault;
  let it;
  let rps;
  let storage;
  try {
    [vault, it, rps, storage] = await Promise.all([get(vp, VAULT_API), get(path, BACKUP_API), list(`${path}/recoveryPoints`, BACKUP_API),
      get(`${vp}/backupstorageconfig/vaultstorageconfig`, BACKUP_API)]);
  } catch (e) {
    showError(ctx, title, e);
    return;
  }
  const repl = storage.properties.rsvaultReplication;
  const crr = storage.properties.crossRegionRestoreFlag === true && repl ? repl.secondaryRegion : null;
  const secondary = query.get('region') === 'secondary' && crr;
  if (secondary) {
    try {
      rps = await list(`${path}/recoveryPoints`, CRR_API);
    } catch (e) {
      showError(ctx, title, e);
      return;
    }
  }
  const p = it.properties;
  const vmName = p.friendlyName;
  const vmRef = parseId(p.virtualMachineId);
  let vm = null;
  try {
    vm = await get(`${p.virtualMachineId}?$expand=instanceView`, COMPUTE_API);
  } catch {
    vm = null;
  }
  const power = vm ? ((vm.properties.instanceView || {}).statuses || []).map((s) => s.code).find((c) => /^PowerState\//.test(c)) : null;
  rps.sort((a, b) => String(b.properties.recoveryPointTime).localeCompare(String(a.properties.recoveryPointTime)));

  const rpSel = select(rps.map((rp) => ({
    value: rp.name,
    label: `${fmtDateTime(rp.properties.recoveryPointTime)} — ${consistencyLabel(rp.properties.recoveryPointType)}${t('common.listSep')}${tierLabel(rp)}${(rp.properties.rsvaultVerify || {}).status === 'Damaged' ? ` (${t('rp.verify.Damaged')})` : ''}`,
  })), query.get('rp') || (rps[0] && rps[0].name));
  const rpField = field({ label: t('restore.point'), control: rpSel, required: true });
  const regionGroup = newId('region');
  const regionRadio = (value, label) => {
    const r = h('input', { type: 'radio', name: regionGroup, value, checked: (value === 'secondary') === Boolean(secondary) });
    r.addEventListener('change', () => {
      const q = new URLSearchParams(query);
      if (value === 'secondary') q.set('region', 'secondary');
      else q.delete('region');
      q.delete('rp');
      navigate(`${itemHref(rg, name, it)}/restore?${q}`);
    });
    return h('label', null, r, ' ', label);
  };
  const regionSet = crr ? h('fieldset', { class: 'field' }, h('legend', null, t('restore.region')),
    h('div', { class: 'radio-row' },
      regionRadio('primary', t('restore.region.primary', { region: regionName(vault.location) })),
      regionRadio('secondary', t('restore.region.secondary', { region: regionName(crr) })))) : null;

  const cfgGroup = newId('cfg');
  const createNew = h('input', { type: 'radio', name: cfgGroup, value: 'new', checked: true });
  const replace = h('input', { type: 'radio', name: cfgGroup, value: 'replace' });
  const cfgSet = h('fieldset', { class: 'field' }, h('legend', null, t('restore.config')),
    h('div', { class: 'radio-row' },
      h('label', null, createNew, ' ', t('common.createNew')),
      secondary ? null : h('label', null, replace, ' ', t('restore.replaceExisting'))));

  const type = select([
    { value: 'AlternateLocation', label: t('restore.type.vm') },
    { value: 'RestoreDisks', label: t('restore.type.disks') },
  ], 'AlternateLocation');
  const typeField = field({ label: t('restore.type'), control: type });
  const newVm = h('input', { type: 'text', value: `${vmName}-restored`, spellcheck: 'false' });
  const newVmField = field({ label: t('restore.vmName'), control: newVm, required: true, hint: t('restore.vmNameHint') });
  const targetRg = h('input', { type: 'text', value: vmRef.resourceGroup || rg, spellcheck: 'false' });
  const rgField = field({ label: t('common.resourceGroup'), control: targetRg, required: true });
  const vnet = h('input', { type: 'text', value: 'vnet', spellcheck: 'false' });
  const vnetField = field({ label: t('restore.vnet'), control: vnet, required: true });
  const subnet = h('input', { type: 'text', value: 'default', spellcheck: 'false' });
  const subnetField = field({ label: t('restore.subnet'), control: subnet, required: true });
  const saChoices = h('datalist', { id: newId('sa') });
  const sa = h('input', { type: 'text', spellcheck: 'false', autocomplete: 'off', list: saChoices.id });
  const saField = field({ label: t('restore.staging'), control: sa, hint: t('restore.stagingHint') });
  saField.append(saChoices);
  // The accounts there are, offered as the user types (a new name creates one).
  listAccounts().then((all) => saChoices.replaceChildren(...all.map((a) => h('option', { value: a.name })))).catch(() => {});
  const replaceInfo = h('div', { class: 'info-box' },
    h('p', null, t('restore.replaceInfo')),
    h('p', null, `${t('vm.status')}: `, h('strong', null, power ? t(`power.${power.split('/')[1]}`) : '—')));
  const formError = errorSlot();
  const submit = h('button', { type: 'submit', class: 'primary' }, t('restore.submit'));

  const sync = () => {
    const isNew = createNew.checked;
    typeField.hidden = !isNew;
    const alt = isNew && type.value === 'AlternateLocation';
    newVmField.hidden = !alt;
    vnetField.hidden = !alt;
    subnetField.hidden = !alt;
    rgField.hidden = !isNew;
    replaceInfo.hidden = isNew;
    saField.querySelector('label').textContent = t('restore.staging');
    const needSa = isNew && type.value === 'RestoreDisks';
    sa.setAttribute('aria-required', needSa ? 'true' : 'false');
  };
  for (const c of [createNew, replace, type]) c.addEventListener('change', sync);
  sync();

  const form = h('form', { class: 'form', novalidate: true, 'aria-label': title },
    h('p', null, secondary ? t('restore.secondaryIntro', { region: regionName(crr) }) : t('restore.intro', { name: vmName, region: regionName(vault.location) })),
    regionSet, rpField, cfgSet, typeField, newVmField, rgField, vnetField, subnetField, saField, replaceInfo, formError,
    h('div', { class: 'form-actions' }, submit, h('a', { class: 'button secondary', href: itemHref(rg, name, it) }, t('common.cancel'))));

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    formError.set('');
    for (const f of [rpField, newVmField, rgField, vnetField, subnetField, saField]) f.setError('');
    const kind = replace.checked ? 'OriginalLocation' : type.value;
    const errs = [];
    if (!rpSel.value) errs.push([rpField, t('restore.err.rp')]);
    const saName = sa.value.trim();
    if (kind === 'RestoreDisks' && !saName) errs.push([saField, t('restore.err.saRequired')]);
    else if (saName && !SA_RE.test(saName)) errs.push([saField, t('restore.err.sa')]);
    if (kind !== 'OriginalLocation' && !targetRg.value.trim()) errs.push([rgField, t('vault.err.rgRequired')]);
    if (kind === 'AlternateLocation') {
      const n = newVm.value.trim();
      if (!VM_RE.test(n) || /[.-]$/.test(n)) errs.push([newVmField, t('restore.err.vmName')]);
      if (!vnet.value.trim()) errs.push([vnetField, t('common.required')]);
      if (!subnet.value.trim()) errs.push([subnetField, t('common.required')]);
    }
    if (errs.length) {
      for (const [f, m] of errs) f.setError(m);
      errs[0][0].control.focus();
      return;
    }
    const sub = subPath();
    const trg = targetRg.value.trim();
    const props = {
      objectType: 'IaasVMRestoreRequest',
      recoveryPointId: rpSel.value,
      recoveryType: kind,
      sourceResourceId: p.sourceResourceId || p.virtualMachineId,
      region: secondary || vault.location,
      createNewCloudService: false,
      originalStorageAccountOption: false,
      encryptionDetails: { encryptionEnabled: false },
    };
    if (saName) props.storageAccountId = `${sub}/resourceGroups/${trg || rg}/providers/Microsoft.Storage/storageAccounts/${saName}`;
    if (kind !== 'OriginalLocation') props.targetResourceGroupId = `${sub}/resourceGroups/${trg}`;
    if (kind === 'AlternateLocation') {
      const n = newVm.value.trim();
      props.targetVirtualMachineId = `${sub}/resourceGroups/${trg}/providers/Microsoft.Compute/virtualMachines/${n}`;
      props.virtualNetworkId = `${sub}/resourceGroups/${trg}/providers/Microsoft.Network/virtualNetworks/${vnet.value.trim()}`;
      props.subnetId = `${props.virtualNetworkId}/subnets/${subnet.value.trim()}`;
    }
    submit.disabled = true;
    const d = deployment(t('restore.deploying', { name: vmName }));
    let job;
    try {
      if (secondary) {
        // Cross-region restore, as az runs it: the region's AAD properties,
        // the point's access token, the restore in the secondary region.
        const region = `${sub}/providers/Microsoft.RecoveryServices/locations/${encodeURIComponent(secondary)}`;
        const aad = await get(`${region}/backupAadProperties`, CRR_API);
        const token = (await request('POST', `${path}/recoveryPoints/${encodeURIComponent(rpSel.value)}/accessToken`, { apiVersion: CRR_API, body: aad })).body.properties;
        token.objectType = 'CrrAccessToken';
        const r = await request('POST', `${region}/backupCrossRegionRestore`, { apiVersion: CRR_API, body: { crossRegionRestoreAccessDetails: token, restoreRequest: props } });
        const st = await waitOperation(r, CRR_API);
        job = (st && st.properties && st.properties.jobId) || null;
      } else {
        const r = await request('POST', `${path}/recoveryPoints/${encodeURIComponent(rpSel.value)}/restore`, { apiVersion: BACKUP_API, body: { properties: props } });
        job = await jobOf(r);
      }
    } catch (err) {
      d.failed(err);
      submit.disabled = false;
      const m = err.message || '';
      if (/targetVirtualMachineId|VM name|UserErrorVmAlreadyExists/.test(`${err.code} ${m}`)) newVmField.setError(m);
      else if (/storageAccountId/.test(m)) saField.setError(m);
      else formError.set(err.code ? `(${err.code}) ${m}` : m);
      return;
    }
    const jobsHref = `${href('vaults', rg, name)}/jobs`;
    d.succeeded(t('restore.deployed', { name: vmName }), { href: jobsHref, label: t('jobs.title') });
    const op = t(secondary ? 'op.CrossRegionRestore' : 'op.Restore');
    if (job) {
      followJob(vp, job, {
        running: t('job.note.running', { op, name: vmName }),
        completed: t('job.note.completed', { op, name: vmName }),
        failed: t('job.note.failed', { op, name: vmName }),
      }, { href: `${jobsHref}/${encodeURIComponent(job)}`, label: t('jobs.details') });
    }
    if (ctx.alive) navigate(job ? `${jobsHref}/${encodeURIComponent(job)}` : jobsHref);
  });

  show(ctx, blade({
    crumbs: vaultCrumbs(rg, name, [t('items.title'), `${href('vaults', rg, name)}/items`], [vmName, itemHref(rg, name, it)], [title]),
    title,
    subtitle: vmName,
    menu: vaultMenu(rg, name, 'items'),
    body: rps.length ? form : h('div', null, regionSet, h('p', null, t(secondary ? 'restore.secondaryEmpty' : 'rp.empty'))),
  }));
}
