// "Backup" from a vault: backup goal → backup policy → select virtual
// machines → Enable backup, as Azure's portal walks it.

import { h, field, select, table, essentials, newId, errorSlot } from '../dom.js';
import { t, regionName } from '../i18n.js';
import { get, list, request, vaultPath, itemPath, after, waitOperation, VAULT_API, BACKUP_API } from '../api.js';
import { show, loading, showError, blade, setTitle, vaultMenu, vaultCrumbs } from '../layout.js';
import { href, navigate } from '../router.js';
import { deployment } from '../notifications.js';
import { describePolicy } from '../policy.js';
import { openPolicyEditor } from './policy-editor.js';

/** Discovery (refreshContainers, followed to its end), then the VMs the vault may protect. */
export async function discoverVms(vp) {
  const r = await request('POST', `${vp}/backupFabrics/Azure/refreshContainers`, { apiVersion: BACKUP_API });
  await waitOperation(r, BACKUP_API);
  return list(`${vp}/backupProtectableItems`, BACKUP_API, "backupManagementType eq 'AzureIaasVM'");
}

/** Protects one VM (its protectable item) with a policy; resolves when the operation ends. */
export async function protectVm(vp, protectable, policyId) {
  const id = protectable.id;
  const container = after(id, 'protectionContainers');
  const item = after(id, 'protectableItems');
  const p = protectable.properties;
  const r = await request('PUT', itemPath(vp, container, item), {
    apiVersion: BACKUP_API,
    body: { properties: { protectedItemType: p.protectableItemType, sourceResourceId: p.virtualMachineId, policyId } },
  });
  await waitOperation(r, BACKUP_API);
  return { container, item };
}

/** The policy drop-down with the chosen policy's details below it. */
export function policyPicker({ policies, label, createLabel, onCreate, selected }) {
  const sel = select(policies.map((p) => ({ value: p.name, label: p.name })), selected || (policies[0] && policies[0].name));
  const details = h('div', { class: 'policy-details', 'aria-live': 'polite' });
  const render = () => {
    const p = policies.find((x) => x.name === sel.value);
    details.replaceChildren(p ? essentials(describePolicy(p), t('policy.detailsOf', { name: p.name })) : '');
  };
  sel.addEventListener('change', render);
  render();
  const create = h('button', { type: 'button', class: 'link-button' }, createLabel);
  create.addEventListener('click', onCreate);
  const wrap = h('div', { class: 'policy-picker' }, field({ label, control: sel }), create, details);
  return {
    el: wrap,
    select: sel,
    get value() {
      return policies.find((x) => x.name === sel.value);
    },
    add(p) {
      const i = policies.findIndex((x) => x.name === p.name);
      if (i >= 0) policies[i] = p;
      else policies.push(p);
      sel.replaceChildren(...policies.map((x) => h('option', { value: x.name }, x.name)));
      sel.value = p.name;
      render();
    },
  };
}

export async function vaultBackupView({ rg, name }, query, ctx) {
  const title = t('vault.backup');
  setTitle(`${title} - ${name}`);
  loading(ctx, title);
  const vp = vaultPath(rg, name);
  let vault;
  let policies;
  try {
    [vault, policies] = await Promise.all([get(vp, VAULT_API), list(`${vp}/backupPolicies`, BACKUP_API)]);
  } catch (e) {
    showError(ctx, title, e);
    return;
  }
  policies = policies.filter((p) => p.properties.backupManagementType === 'AzureIaasVM');
  // The wizard's state lives in the URL (?step=&policy=&vms=), as Azure's
  // blades keep theirs: a reload, or a link, comes back to the same step.
  const wanted = {
    step: Math.min(4, Math.max(1, Number.parseInt(query.get('step') || '1', 10) || 1)),
    policy: query.get('policy'),
    vms: (query.get('vms') || '').split(',').filter(Boolean),
  };
  let step = 1;
  let protectables = null;
  const chosen = new Set();
  const saveState = () => {
    const q = new URLSearchParams();
    if (step > 1) q.set('step', String(step));
    if (step > 2 && picker.value) q.set('policy', picker.value.name);
    if (chosen.size) q.set('vms', [...chosen].map((id) => after(id, 'protectableItems')).join(','));
    const s = q.toString();
    history.replaceState(null, '', `${href('vaults', rg, name)}/backup${s ? `?${s}` : ''}`);
  };

  // --- step 1: backup goal ---
  const where = select([{ value: 'Azure', label: t('goal.azure') }, { value: 'OnPremises', label: t('goal.onPrem'), disabled: true }], 'Azure');
  const what = select([
    { value: 'VM', label: t('goal.vm') },
    { value: 'FileShare', label: t('goal.fileShare'), disabled: true },
    { value: 'SQL', label: t('goal.sql'), disabled: true },
  ], 'VM');
  const goalOk = h('button', { type: 'button', class: 'primary' }, t('common.ok'));
  const goalSummary = h('p', { class: 'summary', hidden: true });
  const goalFields = h('div', null,
    field({ label: t('goal.where'), control: where }),
    field({ label: t('goal.what'), control: what }),
    h('div', { class: 'form-actions' }, goalOk));

  // --- step 2: policy ---
  const picker = policyPicker({
    policies,
    label: t('backup.choosePolicy'),
    createLabel: t('common.createNew'),
    onCreate: () => openPolicyEditor({
      vaultPath: vp,
      existing: policies.map((p) => p.name),
      onSaved: (p) => picker.add(p),
    }),
  });
  const policyOk = h('button', { type: 'button', class: 'primary' }, t('common.ok'));
  const policySummary = h('p', { class: 'summary', hidden: true });
  const policyFields = h('div', null, picker.el, h('div', { class: 'form-actions' }, policyOk));

  // --- step 3: virtual machines ---
  const vmArea = h('div', { 'aria-live': 'polite' });
  const vmOk = h('button', { type: 'button', class: 'primary' }, t('common.ok'));
  const vmSummary = h('p', { class: 'summary', hidden: true });
  const vmErr = errorSlot();
  const vmFields = h('div', null, h('p', { class: 'hint' }, t('backup.vmHint', { region: regionName(vault.location) })), vmArea, vmErr, h('div', { class: 'form-actions' }, vmOk));

  const enable = h('button', { type: 'button', class: 'primary big', disabled: true }, t('backup.enable'));
  const enableErr = errorSlot();

  const sections = [
    stepSection(1, t('goal.title'), goalSummary, goalFields),
    stepSection(2, t('policy.title'), policySummary, policyFields),
    stepSection(3, t('backup.selectVms'), vmSummary, vmFields),
  ];

  function render() {
    sections.forEach((s, i) => {
      const n = i + 1;
      s.el.classList.toggle('current', n === step);
      s.el.classList.toggle('done', n < step);
      s.el.setAttribute('aria-disabled', n > step ? 'true' : 'false');
      s.content.hidden = n !== step;
      s.edit.hidden = !(n < step);
    });
    goalSummary.hidden = step <= 1;
    goalSummary.textContent = `${t('goal.azure')} / ${t('goal.vm')}`;
    policySummary.hidden = step <= 2;
    policySummary.textContent = picker.value ? picker.value.name : '';
    vmSummary.hidden = step <= 3;
    vmSummary.textContent = [...chosen].map((id) => protectables.find((p) => p.id === id).properties.friendlyName).join(t('common.listSep'));
    enable.disabled = step <= 3 || chosen.size === 0;
    saveState();
  }

  function stepSection(n, heading, summary, content) {
    const hid = newId('step');
    const edit = h('button', { type: 'button', class: 'link-button', 'aria-label': `${t('common.edit')}: ${heading}` }, t('common.edit'));
    edit.addEventListener('click', () => {
      step = n;
      render();
      content.querySelector('select, input, button').focus();
    });
    const el = h('section', { class: 'step', 'aria-labelledby': hid },
      h('h2', { id: hid, tabindex: '-1' }, h('span', { class: 'step-no', 'aria-hidden': 'true' }, String(n)), heading),
      summary, edit, content);
    return { el, content, edit, heading: el.querySelector('h2') };
  }

  function go(n) {
    step = n;
    render();
    if (n <= 3) sections[n - 1].heading.focus();
    else enable.focus();
  }

  goalOk.addEventListener('click', () => go(2));
  policyOk.addEventListener('click', async () => {
    go(3);
    if (protectables === null) await loadVms();
  });
  vmOk.addEventListener('click', () => {
    if (!chosen.size) {
      vmErr.set(t('backup.err.noVm'));
      return;
    }
    vmErr.set('');
    go(4);
  });

  async function loadVms() {
    vmArea.replaceChildren(h('p', { class: 'loading', role: 'status' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), t('backup.discovering')));
    try {
      protectables = await discoverVms(vp);
    } catch (e) {
      protectables = null;
      vmErr.set(e.message);
      vmArea.replaceChildren();
      return;
    }
    if (!ctx.alive) return;
    const filter = h('input', { type: 'search', class: 'filter', placeholder: t('common.filterPlaceholder') });
    const tableHolder = h('div');
    const draw = () => {
      const q = filter.value.trim().toLowerCase();
      tableHolder.replaceChildren(table({
        caption: t('backup.selectVms'),
        head: [h('span', { class: 'sr-only' }, t('common.select')), t('common.name'), t('common.resourceGroup'), t('vm.kind')],
        rows: protectables.filter((p) => p.properties.friendlyName.toLowerCase().includes(q)).map((p) => {
          const box = h('input', { type: 'checkbox', checked: chosen.has(p.id), 'aria-label': p.properties.friendlyName });
          box.addEventListener('change', () => {
            if (box.checked) chosen.add(p.id);
            else chosen.delete(p.id);
            vmErr.set('');
            saveState();
          });
          return h('tr', null, h('td', null, box), h('td', null, p.properties.friendlyName), h('td', null, p.properties.resourceGroup),
            h('td', null, p.properties.virtualMachineVersion === 'ClassicCompute' ? t('vm.classic') : t('vm.arm')));
        }),
        empty: t('backup.noVms'),
      }));
    };
    filter.addEventListener('input', draw);
    draw();
    vmArea.replaceChildren(field({ label: t('common.filterByName'), control: filter }), tableHolder);
  }

  enable.addEventListener('click', async () => {
    enableErr.set('');
    const policy = picker.value;
    const targets = protectables.filter((p) => chosen.has(p.id));
    const names = targets.map((p) => p.properties.friendlyName).join(t('common.listSep'));
    enable.disabled = true;
    const d = deployment(t('backup.deploying', { names, vault: name }));
    try {
      for (const p of targets) await protectVm(vp, p, policy.id);
    } catch (e) {
      d.failed(e);
      enableErr.set(e.message);
      enable.disabled = false;
      return;
    }
    d.succeeded(t('backup.deployed', { names, vault: name }), { href: `${href('vaults', rg, name)}/items`, label: t('items.title') });
    if (ctx.alive) navigate(`${href('vaults', rg, name)}/items`);
  });

  if (wanted.policy && policies.some((p) => p.name === wanted.policy)) picker.select.value = wanted.policy;
  picker.select.dispatchEvent(new Event('change'));
  render();
  show(ctx, blade({
    crumbs: vaultCrumbs(rg, name, [title]),
    title,
    subtitle: name,
    menu: vaultMenu(rg, name, 'backup'),
    body: [sections.map((s) => s.el), h('div', { class: 'form-actions sticky' }, enable), enableErr],
  }));
  // Back to the step the URL names, with its choices.
  if (wanted.step >= 3) {
    step = 3;
    render();
    await loadVms();
    if (!ctx.alive || protectables === null) return;
    for (const p of protectables) if (wanted.vms.includes(after(p.id, 'protectableItems'))) chosen.add(p.id);
    vmArea.querySelectorAll('input[type=checkbox]').forEach((box) => {
      const p = protectables.find((x) => x.properties.friendlyName === box.getAttribute('aria-label'));
      box.checked = !!p && chosen.has(p.id);
    });
    go(wanted.step === 4 && chosen.size ? 4 : 3);
  } else if (wanted.step === 2) go(2);
}
