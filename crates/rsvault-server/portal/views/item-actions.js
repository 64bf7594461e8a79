// What can be done to a backup item (the "…" menu and the item's toolbar):
// Backup now, Stop backup, Resume backup, Delete backup data, Undelete.

import { h, field, select, errorSlot, newId } from '../dom.js';
import { t } from '../i18n.js';
import { request, list, itemPath, after, waitOperation, jobOf, BACKUP_API, ACTIONS } from '../api.js';
import { openDialog } from '../dialog.js';
import { href } from '../router.js';
import { deployment, followJob } from '../notifications.js';

/** Which actions the item's state allows. */
export function allowed(p, can = () => true) {
  const deleted = !!p.isScheduledForDeferredDelete;
  const st = p.protectionState;
  const write = can(ACTIONS.protect);
  return {
    backupNow: !deleted && (st === 'Protected' || st === 'IRPending') && can(ACTIONS.backupNow),
    stop: !deleted && (st === 'Protected' || st === 'IRPending' || st === 'BackupsSuspended') && write,
    resume: !deleted && (st === 'ProtectionStopped' || st === 'BackupsSuspended') && write,
    del: !deleted && can(ACTIONS.deleteItem),
    undelete: deleted && write,
    restore: Number((p.extendedInfo || {}).recoveryPointCount || 0) > 0 && can(ACTIONS.restore),
  };
}

/** "yyyy-mm-dd" of a local date. */
function ymd(d) {
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

function addDays(n) {
  const d = new Date();
  d.setDate(d.getDate() + n);
  return d;
}

function itemBody(item, props) {
  const p = item.properties;
  return { properties: { protectedItemType: p.protectedItemType, sourceResourceId: p.sourceResourceId || p.virtualMachineId, ...props } };
}

/**
 * The actions of one item. `ctx`: {vp, rg, vault, onChanged}; every action
 * reports itself as a deployment and calls onChanged when done.
 */
export function itemActions(item, { vp, rg, vault, onChanged, can }) {
  const p = item.properties;
  const a = allowed(p, can);
  const container = after(item.id, 'protectionContainers');
  const path = itemPath(vp, container, item.name);
  const vm = p.friendlyName;
  const jobsLink = { href: `${href('vaults', rg, vault)}/jobs`, label: t('jobs.title') };
  const done = () => onChanged && onChanged();

  async function putItem(props, what, ok) {
    const d = deployment(what);
    try {
      const r = await request('PUT', path, { apiVersion: BACKUP_API, body: itemBody(item, props) });
      await waitOperation(r, BACKUP_API);
      d.succeeded(ok, jobsLink);
    } catch (e) {
      d.failed(e);
      throw e;
    }
    done();
  }

  function backupNow() {
    const input = h('input', { type: 'date', value: ymd(addDays(30)), min: ymd(addDays(1)), max: ymd(addDays(365 * 99)), required: true });
    const f = field({ label: t('backupNow.retainTill'), control: input, hint: t('backupNow.hint') });
    openDialog({
      title: t('backupNow.title'),
      description: t('backupNow.intro', { name: vm }),
      body: [f],
      actions: [
        {
          label: t('common.ok'),
          primary: true,
          onClick: async () => {
            const v = input.value;
            if (!/^\d{4}-\d\d-\d\d$/.test(v)) {
              f.setError(t('backupNow.err.date'));
              input.focus();
              return false;
            }
            if (v <= ymd(new Date())) {
              f.setError(t('backupNow.err.future'));
              input.focus();
              return false;
            }
            f.setError('');
            const d = deployment(t('backupNow.deploying', { name: vm }));
            let job;
            try {
              const r = await request('POST', `${path}/backup`, {
                apiVersion: BACKUP_API,
                body: { properties: { objectType: 'IaasVMBackupRequest', recoveryPointExpiryTimeInUTC: `${v}T23:59:59Z` } },
              });
              job = await jobOf(r);
            } catch (e) {
              d.failed(e);
              if (/recoveryPointExpiryTimeInUTC/.test(e.serverMessage || e.message)) {
                f.setError(e.message);
                return false;
              }
              throw e;
            }
            d.succeeded(t('backupNow.deployed', { name: vm }), jobsLink);
            done();
            if (job) {
              followJob(vp, job, {
                running: t('job.note.running', { op: t('op.Backup'), name: vm }),
                completed: t('job.note.completed', { op: t('op.Backup'), name: vm }),
                failed: t('job.note.failed', { op: t('op.Backup'), name: vm }),
              }, { href: `${href('vaults', rg, vault)}/jobs/${encodeURIComponent(job)}`, label: t('jobs.details') }).then(done);
            }
            return true;
          },
        },
        { label: t('common.cancel') },
      ],
    });
  }

  function stop() {
    const group = newId('stop');
    const opts = [
      ['retain', t('stop.retain'), t('stop.retainDesc')],
      ['policy', t('stop.retainPolicy'), t('stop.retainPolicyDesc')],
      ['delete', t('stop.delete'), t('stop.deleteDesc')],
    ];
    const radios = opts.map(([v, label, desc], i) => h('label', { class: 'choice' },
      h('input', { type: 'radio', name: group, value: v, checked: i === 0 }),
      h('span', null, h('strong', null, label), h('br'), h('span', { class: 'muted' }, desc))));
    const confirmName = h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false' });
    const nameField = field({ label: t('del.typeName', { name: vm }), control: confirmName });
    nameField.hidden = true;
    const fs = h('fieldset', null, h('legend', null, t('stop.level')), radios);
    fs.addEventListener('change', () => {
      nameField.hidden = fs.querySelector('input:checked').value !== 'delete';
    });
    openDialog({
      title: t('stop.title'),
      description: t('stop.intro', { name: vm }),
      body: [fs, nameField],
      actions: [
        {
          label: t('stop.title'),
          primary: true,
          onClick: async () => {
            const v = fs.querySelector('input:checked').value;
            if (v === 'delete') {
              if (confirmName.value.trim() !== vm) {
                nameField.setError(t('del.err.name', { name: vm }));
                confirmName.focus();
                return false;
              }
              await deleteData();
              return true;
            }
            if (v === 'policy') await putItem({ policyId: p.policyId, protectionState: 'BackupsSuspended' }, t('stop.deploying', { name: vm }), t('stop.deployed', { name: vm }));
            else await putItem({ policyId: '', protectionState: 'ProtectionStopped' }, t('stop.deploying', { name: vm }), t('stop.deployed', { name: vm }));
            return true;
          },
        },
        { label: t('common.cancel') },
      ],
    });
  }

  async function deleteData() {
    const d = deployment(t('del.deploying', { name: vm }));
    try {
      const r = await request('DELETE', path, { apiVersion: BACKUP_API });
      await waitOperation(r, BACKUP_API);
      d.succeeded(t('del.deployed', { name: vm }), jobsLink);
    } catch (e) {
      d.failed(e);
      throw e;
    }
    done();
  }

  function deleteDialog() {
    const confirmName = h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false' });
    const nameField = field({ label: t('del.typeName', { name: vm }), control: confirmName });
    openDialog({
      title: t('del.title'),
      description: t('del.intro', { name: vm }),
      body: [nameField],
      actions: [
        {
          label: t('common.delete'),
          primary: true,
          onClick: async () => {
            if (confirmName.value.trim() !== vm) {
              nameField.setError(t('del.err.name', { name: vm }));
              confirmName.focus();
              return false;
            }
            await deleteData();
            return true;
          },
        },
        { label: t('common.cancel') },
      ],
    });
  }

  async function resume() {
    let policies = [];
    try {
      policies = (await list(`${vp}/backupPolicies`, BACKUP_API)).filter((x) => x.properties.backupManagementType === 'AzureIaasVM');
    } catch (e) {
      policies = [];
    }
    const current = p.policyName || (policies[0] && policies[0].name);
    const sel = select(policies.map((x) => ({ value: x.name, label: x.name })), current);
    openDialog({
      title: t('resume.title'),
      description: t('resume.intro', { name: vm }),
      body: [field({ label: t('backup.choosePolicy'), control: sel })],
      actions: [
        {
          label: t('resume.title'),
          primary: true,
          onClick: async () => {
            const pol = policies.find((x) => x.name === sel.value);
            await putItem({ policyId: pol.id }, t('resume.deploying', { name: vm }), t('resume.deployed', { name: vm }));
          },
        },
        { label: t('common.cancel') },
      ],
    });
  }

  function undelete() {
    const err = errorSlot();
    openDialog({
      title: t('undelete.title'),
      description: t('undelete.intro', { name: vm }),
      body: [err],
      actions: [
        {
          label: t('undelete.title'),
          primary: true,
          onClick: () => putItem({ policyId: '', protectionState: 'ProtectionStopped', isRehydrate: true }, t('undelete.deploying', { name: vm }), t('undelete.deployed', { name: vm })),
        },
        { label: t('common.cancel') },
      ],
    });
  }

  return [
    { key: 'backupNow', label: t('backupNow.title'), icon: 'backup', disabled: !a.backupNow, run: backupNow },
    { key: 'stop', label: t('stop.title'), icon: 'stop', disabled: !a.stop, run: stop },
    { key: 'resume', label: t('resume.title'), icon: 'play', disabled: !a.resume, run: resume },
    { key: 'delete', label: t('del.title'), icon: 'trash', disabled: !a.del, run: deleteDialog },
    { key: 'undelete', label: t('undelete.title'), icon: 'undo', disabled: !a.undelete, run: undelete },
  ];
}
