// The rsvault portal driven in Chromium, both paths of Azure's walkthrough
// ("Back up Azure VMs to a Recovery Services vault"), in English and in
// Japanese: (a) from the VM's menu, (b) from the vault. Every element is
// found by its role and its translated accessible name, so the run also
// proves the labelling.
//
//   npm install --prefix tests/portal
//   RSVAULT_BIN=path/to/rsvault node --test tests/portal/

import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startServer, openBrowser, screenshots, englishPhrases, englishIn, fill, repoRoot, artifacts, rsvaultBin } from './harness.mjs';
import { spawn } from 'node:child_process';

// The portal's own dictionary (a browser module; imported as ESM from its text).
const src = fs.readFileSync(path.join(repoRoot, 'crates/rsvault-server/portal/messages.js'), 'utf8');
const { messages } = await import(`data:text/javascript;base64,${Buffer.from(src).toString('base64')}`);

const ALL_LOCALES = { en: 'en-US', ja: 'ja-JP' };
// PORTAL_LANGS=en runs one language only (while developing).
const LOCALES = Object.fromEntries(Object.entries(ALL_LOCALES)
  .filter(([l]) => (process.env.PORTAL_LANGS || 'en,ja').split(',').includes(l)));
const JOB_TIMEOUT = 90000;
const TEST_TIMEOUT = 240000;

test('every message exists in both languages; the seed\'s Japanese wording', () => {
  const en = Object.keys(messages.en).sort();
  const ja = Object.keys(messages.ja).sort();
  assert.deepEqual(ja, en);
  for (const k of en) assert.ok(messages.ja[k], `ja ${k} is empty`);
  const seed = {
    'nav.vaults': 'Recovery Services コンテナー',
    'nav.vms': '仮想マシン',
    'nav.notifications': '通知',
    'backup.enable': 'バックアップの有効化',
    'backupNow.title': '今すぐバックアップ',
    'goal.title': 'バックアップの目標',
    'goal.where': 'ワークロードはどこで実行されていますか?',
    'backup.selectVms': '仮想マシンの選択',
    'items.title': 'バックアップ項目',
    'jobs.title': 'バックアップ ジョブ',
    'infra.title': 'バックアップ インフラストラクチャ',
    'config.title': 'バックアップ構成',
    'state.initialPending': '警告 (初回のバックアップが保留中)',
    'items.lastBackupStatus': '前回のバックアップの状態',
    'common.refresh': '最新の情報に更新',
    'vmBackup.createPolicy': '新しいポリシーを作成 (または編集) する',
    'redundancy.GeoRedundant': 'geo 冗長',
    'redundancy.LocallyRedundant': 'ローカル冗長',
  };
  for (const [k, v] of Object.entries(seed)) assert.equal(messages.ja[k], v, k);
  // No Japanese message holds an English phrase.
  const english = Object.entries(messages.ja).flatMap(([k, v]) => englishIn(v).map((x) => `${k}: ${x}`));
  assert.deepEqual(english, []);
});

/** Signs in as the host Owner (its app id and secret). */
async function signIn(page, server, T) {
  await page.goto(`${server.url}/`);
  await page.getByRole('heading', { name: T['signin.title'], level: 1 }).waitFor();
  await page.getByLabel(T['signin.appId']).fill(server.owner.appId);
  await page.getByLabel(T['signin.secret']).fill(server.owner.password);
  await page.getByRole('button', { name: T['signin.submit'], exact: true }).click();
  await page.getByRole('heading', { name: T['nav.vaults'], level: 1 }).waitFor();
}

const services = (page, T) => page.getByRole('navigation', { name: T['shell.services'] });
const vaultMenu = (page, T, name) => page.getByRole('navigation', { name: fill(T['vault.menu'], { name }) });

/** Opens the notifications panel, waits for an entry, closes the panel with Escape. */
async function expectNotification(page, T, text, shot, step) {
  await page.getByRole('button', { name: T['nav.notifications'] }).click();
  const panel = page.getByRole('complementary', { name: T['nav.notifications'] });
  await panel.getByText(text).first().waitFor();
  if (shot) await shot(page, step);
  await page.keyboard.press('Escape');
  await panel.waitFor({ state: 'hidden' });
}

const SUB = '/subscriptions/00000000-0000-0000-0000-000000000000';

/** One ARM call as the host Owner; a non-2xx answer fails the test. */
async function call(server, method, p, body) {
  const r = await fetch(`${server.url}${p}`, {
    method,
    headers: { Authorization: `Bearer ${server.token}`, 'Content-Type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!r.ok) assert.fail(`${method} ${p}: ${r.status} ${await r.text()}`);
  return r;
}

/**
 * Registers a VM in demo-rg whose QMP socket accepts connections but never
 * greets, so its backups fail on their own (UserErrorVmSnapshotFailed).
 * Returns the socket's path; everything goes when the test ends.
 */
async function registerSilentVm(t, server, name) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rsvault-portal-vm-'));
  // Disk images may only be named under the server's image roots.
  const disk = path.join(server.dataDir, 'images', `${name}.qcow2`);
  execFileSync('qemu-img', ['create', '-f', 'qcow2', disk, '16M'], { stdio: 'ignore' });
  const qmp = path.join(dir, 'qmp.sock');
  const sockets = new Set();
  const silent = net.createServer((c) => {
    sockets.add(c);
    c.on('error', () => {});
    c.on('close', () => sockets.delete(c));
  });
  await new Promise((resolve, reject) => {
    silent.once('error', reject);
    silent.listen(qmp, resolve);
  });
  t.after(async () => {
    for (const c of sockets) c.destroy();
    await new Promise((resolve) => silent.close(resolve));
    fs.rmSync(dir, { recursive: true, force: true });
  });
  await call(server, 'PUT', `${SUB}/resourceGroups/demo-rg/providers/Microsoft.Compute/virtualMachines/${name}?api-version=2023-03-01`, {
    location: 'japaneast',
    properties: {
      storageProfile: { osDisk: { osType: 'Linux', vhd: { uri: `file://${disk}` } } },
      qemu: { qmpSocket: qmp },
    },
  });
  return qmp;
}

/** Creates a vault and protects a demo VM with DefaultPolicy over the ARM API (test set-up). */
async function protectOverApi(server, vault, vm) {
  const vp = `${SUB}/resourceGroups/demo-rg/providers/Microsoft.RecoveryServices/vaults/${vault}`;
  await call(server, 'PUT', vp, { location: 'japaneast', sku: { name: 'Standard' } });
  const item = `${vp}/backupFabrics/Azure/protectionContainers/IaasVMContainer;iaasvmcontainerv2;demo-rg;${vm}/protectedItems/VM;iaasvmcontainerv2;demo-rg;${vm}`;
  const r = await call(server, 'PUT', item, { properties: { protectedItemType: 'Microsoft.Compute/virtualMachines', policyId: `${vp}/backupPolicies/DefaultPolicy` } });
  const op = new URL(r.headers.get('Azure-AsyncOperation'));
  for (;;) {
    const st = await (await call(server, 'GET', op.pathname)).json();
    if (st.status !== 'InProgress') {
      assert.equal(st.status, 'Succeeded');
      return;
    }
    await new Promise((res) => setTimeout(res, 200));
  }
}

/** Waits for the job row (operation, item) in the Backup jobs list to reach Completed, its progress 100 %. */
async function waitJobCompleted(page, T, op, item) {
  const cell = (name) => page.getByRole('cell', { name, exact: true });
  const row = page.getByRole('row').filter({ has: cell(T[`op.${op}`]) }).filter({ has: cell(item) });
  const done = row.filter({ has: cell(T['status.Completed']) });
  await done.waitFor({ timeout: JOB_TIMEOUT });
  assert.equal(await done.getByRole('progressbar').getAttribute('aria-valuenow'), '100');
  return done;
}

/** Why the libvirt test is skipped (false: it runs); in CI it always runs. */
function libvirtSkip() {
  if (process.env.RSVAULT_TEST_LIBVIRT) return false;
  assert.notEqual(process.env.CI, 'true', 'CI=true but RSVAULT_TEST_LIBVIRT names no libvirt connection');
  return 'RSVAULT_TEST_LIBVIRT is not set';
}

for (const [lang, locale] of Object.entries(LOCALES)) {
  const T = messages[lang];

  describe(`portal in ${locale}`, () => {
    before(() => fs.rmSync(path.join(artifacts, lang), { recursive: true, force: true }));
    const screenshot = screenshots(lang);
    // Every page a test shows in Japanese is Japanese all through.
    const shot = async (page, step) => {
      const file = await screenshot(page, step);
      if (lang === 'ja') assert.deepEqual(await englishPhrases(page), [], `English on the Japanese page at ${step}`);
      return file;
    };

    /** A fresh server and browser for one test, both closed when it ends. */
    async function setUp(t) {
      const server = await startServer();
      t.after(() => server.stop());
      const browser = await openBrowser(locale);
      t.after(() => browser.close());
      return { server, browser, page: browser.page };
    }

    /** The end of a passing test: no page errors, and the server stops cleanly. */
    async function tearDown({ server, browser }) {
      assert.deepEqual(browser.errors, []);
      await browser.close();
      assert.equal(await server.stop(), 0, 'rsvault serve exits cleanly on SIGTERM');
    }

    test(`(a) from the VM's menu: Virtual machines → web-01 → Backup → Backup now → Restore disks [${lang}]`, { timeout: TEST_TIMEOUT }, async (t) => {
      const env = await setUp(t);
      const { server, page } = env;

      await page.goto(`${server.url}/`);
      await page.getByRole('heading', { name: T['signin.title'], level: 1 }).waitFor();
      assert.equal(await page.evaluate(() => document.documentElement.lang), lang, 'the language follows navigator.language');
      await shot(page, 'a-sign-in');
      await signIn(page, server, T);

      // The seed's step: All services → type "Virtual machines" in the
      // filter (English, in either language's portal) → pick it.
      await services(page, T).getByRole('link', { name: T['nav.allServices'] }).click();
      await page.getByRole('heading', { name: T['nav.allServices'], level: 1 }).waitFor();
      const serviceFilter = page.getByLabel(T['services.filter']);
      await serviceFilter.fill('Virtual mach');
      const found = page.getByRole('main').getByRole('link');
      await found.filter({ hasText: T['nav.vms'] }).waitFor();
      assert.deepEqual(await found.allInnerTexts(), [T['nav.vms']], 'the list follows the filter');
      await shot(page, 'a-all-services');
      await serviceFilter.fill('no such service');
      await page.getByText(T['services.none']).waitFor();
      await serviceFilter.fill('Virtual machines');
      await found.filter({ hasText: T['nav.vms'] }).click();
      await page.getByRole('heading', { name: T['nav.vms'], level: 1 }).waitFor();
      await page.getByRole('link', { name: 'app-eu-01' }).waitFor();
      await page.getByLabel(T['common.filterByName']).fill('web');
      await page.getByRole('link', { name: 'app-eu-01' }).waitFor({ state: 'detached' });
      assert.equal(await page.getByRole('link', { name: 'db-01', exact: true }).count(), 0);
      await shot(page, 'a-virtual-machines');
      await page.getByRole('link', { name: 'web-01', exact: true }).click();
      await page.getByRole('heading', { name: 'web-01', level: 1 }).waitFor();
      await shot(page, 'a-vm-overview');

      // The VM's menu: Operations → Backup.
      const vmMenu = page.getByRole('navigation', { name: fill(T['vm.menu'], { name: 'web-01' }) });
      await vmMenu.getByRole('link', { name: T['vm.backup'], exact: true }).click();
      const enableForm = page.getByRole('form', { name: T['vmBackup.enableTitle'] });
      await enableForm.waitFor();
      await enableForm.getByRole('radio', { name: T['common.createNew'] }).check();
      const vaultName = page.getByLabel(T['vmBackup.newVaultName']);
      await vaultName.fill('9-bad');
      await page.getByText(T['vault.err.name']).waitFor();
      await vaultName.fill(`vm-vault-${lang}`);
      await page.getByText(T['vault.err.name']).waitFor({ state: 'detached' });
      const policy = page.getByLabel(T['vmBackup.choosePolicy']);
      assert.equal(await policy.inputValue(), 'DefaultPolicy');
      await page.getByText(fill(T['policy.sched.daily'], { time: '21:00', tz: T['tz.UTC'] })).waitFor();
      await shot(page, 'a-enable-backup');
      await page.getByRole('button', { name: T['backup.enable'], exact: true }).click();

      // Configured: the backup item, its initial backup pending.
      await page.getByText(T['state.initialPending']).waitFor();
      await page.getByRole('link', { name: 'DefaultPolicy' }).waitFor();
      await page.getByText(T['policy.nextBackup']).waitFor();
      await shot(page, 'a-backup-pending');
      await expectNotification(page, T, T['notif.deploySucceeded'], shot, 'a-notification-enabled');

      // Backup now, keeping the point 30 days (the default).
      await page.getByRole('button', { name: T['backupNow.title'], exact: true }).click();
      const dialog = page.getByRole('dialog', { name: T['backupNow.title'] });
      await dialog.waitFor();
      const retain = dialog.getByLabel(T['backupNow.retainTill']);
      const want = new Date(Date.now() + 30 * 86400000);
      assert.equal(await retain.inputValue(), await page.evaluate((ms) => {
        const d = new Date(ms);
        return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
      }, want.getTime()));
      await shot(page, 'a-backup-now');
      await dialog.getByRole('button', { name: T['common.ok'], exact: true }).click();
      await dialog.waitFor({ state: 'detached' });
      await expectNotification(page, T, fill(T['job.note.completed'], { op: T['op.Backup'], name: 'web-01' }), shot, 'a-notification-backup-completed');

      // The job, from the item's "View all jobs".
      await page.getByRole('link', { name: T['item.viewJobs'] }).click();
      await page.getByRole('heading', { name: T['jobs.title'], level: 1 }).waitFor();
      await waitJobCompleted(page, T, 'Backup', 'web-01');
      await shot(page, 'a-backup-job-completed');

      // Restore disks from the recovery point.
      await services(page, T).getByRole('link', { name: T['nav.vms'] }).click();
      await page.getByRole('heading', { name: T['nav.vms'], level: 1 }).waitFor();
      await page.getByRole('link', { name: 'web-01', exact: true }).click();
      await page.getByRole('heading', { name: 'web-01', level: 1 }).waitFor();
      await page.getByRole('navigation', { name: fill(T['vm.menu'], { name: 'web-01' }) }).getByRole('link', { name: T['vm.backup'], exact: true }).click();
      await page.getByRole('table', { name: T['rp.title'] }).getByText(T['tier.vault']).waitFor();
      await page.getByText(T['lastBackup.Completed'], { exact: true }).waitFor();
      await shot(page, 'a-recovery-points');
      await page.getByRole('toolbar').getByRole('link', { name: T['restore.title'] }).click();
      await page.getByRole('heading', { name: T['restore.pageTitle'], level: 1 }).waitFor();
      await page.getByLabel(T['restore.type'], { exact: true }).selectOption('RestoreDisks');
      await page.getByRole('button', { name: T['restore.submit'], exact: true }).click();
      await page.getByText(T['restore.err.saRequired']).waitFor();
      await page.getByLabel(T['restore.staging']).fill(`restore${lang}`);
      await shot(page, 'a-restore-disks');
      await page.getByRole('button', { name: T['restore.submit'], exact: true }).click();
      await page.getByRole('heading', { name: `${T['op.Restore']} - web-01`, level: 1 }).waitFor();
      await page.getByRole('definition').filter({ hasText: T['status.Completed'] }).first().waitFor({ timeout: JOB_TIMEOUT });
      await page.getByRole('cell', { name: T['bag.Target Storage Account Name'] }).waitFor();
      await page.getByRole('cell', { name: `restore${lang}`, exact: true }).waitFor();
      // web-01's disks are managed disks: restored as disks of the group, named by the disk.
      await page.getByRole('cell', { name: T['bag.Managed Disk (OS)'] }).waitFor();
      await shot(page, 'a-restore-completed');
      await expectNotification(page, T, fill(T['job.note.completed'], { op: T['op.Restore'], name: 'web-01' }), shot, 'a-notification-restore-completed');

      // The restored disks, found from the job: no server paths, the files
      // named as blobs of a container of the account, linked to it.
      const bagTable = page.getByRole('table', { name: T['jobs.propertyBag'] });
      assert.ok(!(await bagTable.innerText()).includes(server.dataDir), 'the job shows no server paths');
      const bagRow = (key) => bagTable.getByRole('row').filter({ has: page.getByRole('cell', { name: T[`bag.${key}`], exact: true }) });
      const container = await bagRow('Config Blob Container Name').getByRole('link').innerText();
      assert.match(container, /^web-01-/);
      assert.equal(await bagRow('Config Blob Name').getByRole('link').innerText(), `${container}/vmconfig.json`);
      assert.match(await bagRow('Managed Disk (OS)').innerText(), /web-01-osdisk-/);
      assert.equal(await bagRow('OS disk').count(), 0, 'a managed disk is named by the disk, not by its image');
      await bagRow('Target Storage Account Name').getByRole('link', { name: `restore${lang}` }).click();
      await page.getByRole('heading', { name: `restore${lang}`, level: 1 }).waitFor();
      await page.getByText(T['storage.sku.Standard_LRS']).waitFor();
      await shot(page, 'a-storage-account');
      await page.getByRole('link', { name: container, exact: true }).click();
      await page.getByRole('heading', { name: container, level: 1 }).waitFor();
      const blobs = page.getByRole('table', { name: T['storage.blobs'] });
      const configRow = blobs.getByRole('row').filter({ has: page.getByRole('cell', { name: 'vmconfig.json', exact: true }) });
      await configRow.getByRole('cell', { name: T['storage.content.config'], exact: true }).waitFor();
      await configRow.getByRole('cell', { name: T['storage.blobType.BlockBlob'], exact: true }).waitFor();
      await shot(page, 'a-restored-blobs');
      // And from All services, as a user who closed the job would.
      await services(page, T).getByRole('link', { name: T['nav.allServices'] }).click();
      await page.getByLabel(T['services.filter']).fill('Storage');
      await page.getByRole('main').getByRole('link', { name: T['nav.storage'] }).click();
      await page.getByRole('heading', { name: T['nav.storage'], level: 1 }).waitFor();
      await page.getByRole('link', { name: `restore${lang}`, exact: true }).waitFor();

      // Cross Region Restore: the vault (geo-redundant, in Japan East) is
      // replicated to Japan West; enabled there, the point restores from
      // the secondary region.
      const vmVault = `vm-vault-${lang}`;
      await services(page, T).getByRole('link', { name: T['nav.vaults'] }).click();
      await page.getByRole('heading', { name: T['nav.vaults'], level: 1 }).waitFor();
      await page.getByRole('link', { name: vmVault, exact: true }).click();
      await page.getByRole('heading', { name: vmVault, level: 1 }).waitFor();
      await vaultMenu(page, T, vmVault).getByRole('link', { name: T['infra.title'] }).click();
      await page.getByRole('link', { name: T['config.title'] }).click();
      await page.getByRole('heading', { name: T['repl.title'] }).waitFor();
      for (let i = 0; !(await page.getByText(T['repl.state.InSync'], { exact: true }).count()); i++) {
        assert.ok(i < 120, 'replication reaches In sync');
        await new Promise((r) => setTimeout(r, 500));
        await page.reload();
        await page.getByRole('heading', { name: T['repl.title'] }).waitFor();
      }
      await page.getByText(T['region.japanwest'], { exact: true }).waitFor();
      const crrGroup = page.getByRole('group', { name: T['config.crr'] });
      await crrGroup.getByText(T['config.crrHelp']).waitFor();
      await crrGroup.getByRole('checkbox').check();
      await page.getByRole('button', { name: T['common.save'] }).click();
      await page.getByRole('main').getByRole('status').filter({ hasText: T['config.saved'] }).waitFor();
      await crrGroup.getByText(T['config.crrEnabled']).waitFor();
      assert.equal(await crrGroup.getByRole('checkbox').isDisabled(), true, 'it cannot be turned off');
      await shot(page, 'a-cross-region-restore-enabled');
      await services(page, T).getByRole('link', { name: T['nav.vms'] }).click();
      await page.getByRole('link', { name: 'web-01', exact: true }).click();
      await page.getByRole('navigation', { name: fill(T['vm.menu'], { name: 'web-01' }) }).getByRole('link', { name: T['vm.backup'], exact: true }).click();
      await page.getByRole('toolbar').getByRole('link', { name: T['restore.title'] }).click();
      await page.getByRole('heading', { name: T['restore.pageTitle'], level: 1 }).waitFor();
      await page.getByRole('radio', { name: fill(T['restore.region.secondary'], { region: T['region.japanwest'] }) }).check();
      await page.getByText(fill(T['restore.secondaryIntro'], { region: T['region.japanwest'] })).waitFor();
      assert.equal(await page.getByRole('radio', { name: T['restore.replaceExisting'] }).count(), 0, 'no in-place restore from the secondary region');
      await page.getByLabel(T['restore.type'], { exact: true }).selectOption('RestoreDisks');
      await page.getByLabel(T['restore.staging']).fill(`crr${lang}`);
      await shot(page, 'a-restore-secondary-region');
      await page.getByRole('button', { name: T['restore.submit'], exact: true }).click();
      await page.getByRole('heading', { name: `${T['op.CrossRegionRestore']} - web-01`, level: 1 }).waitFor();
      await page.getByRole('definition').filter({ hasText: T['status.Completed'] }).first().waitFor({ timeout: JOB_TIMEOUT });
      await page.getByRole('cell', { name: `crr${lang}`, exact: true }).waitFor();
      await shot(page, 'a-cross-region-restore-completed');

      await tearDown(env);
    });

    // A libvirt host's domain (RSVAULT_TEST_LIBVIRT, which CI sets): a
    // shut-off domain on a qcow2 disk, discovered by `serve --libvirt`,
    // protected and backed up from its VM page, then restored through the
    // wizard as a new VM: a new shut-off domain on a copy of the disk.
    test(`(k) a libvirt domain: discovered, protected, Backup now, restored as a new domain [${lang}]`, { timeout: TEST_TIMEOUT, skip: libvirtSkip() }, async (t) => {
      const uri = process.env.RSVAULT_TEST_LIBVIRT;
      const virsh = (...a) => execFileSync('virsh', ['-c', uri, ...a], { encoding: 'utf8' });
      const name = `rsvault-portal-${lang}-${process.pid}`;
      const copy = `${name}-copy`;
      const work = fs.mkdtempSync('/tmp/rsvault-portal-libvirt-');
      fs.chmodSync(work, 0o755);
      t.after(() => {
        for (const n of [name, copy]) {
          try { virsh('undefine', n, '--checkpoints-metadata'); } catch { /* not defined */ }
        }
        fs.rmSync(work, { recursive: true, force: true });
      });
      const disk = path.join(work, `${name}.qcow2`);
      execFileSync('qemu-img', ['create', '-f', 'qcow2', disk, '16M'], { stdio: 'ignore' });
      execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x5a 1M 3M', disk], { stdio: 'ignore' });
      fs.writeFileSync(path.join(work, 'd.xml'), `<domain type='qemu'><name>${name}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
<os><type arch='x86_64'>hvm</type></os><devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/>
<source file='${disk}'/><target dev='vda' bus='virtio'/></disk></devices></domain>`);
      virsh('define', path.join(work, 'd.xml'));

      const server = await startServer({
        args: ['--libvirt', uri],
        config: '[libvirt]\nresource_group = "rg-kvm"\nlocation = "japaneast"\n',
      });
      t.after(() => server.stop());
      const browser = await openBrowser(locale);
      t.after(() => browser.close());
      const { page } = browser;
      await signIn(page, server, T);

      await services(page, T).getByRole('link', { name: T['nav.vms'] }).click();
      await page.getByRole('heading', { name: T['nav.vms'], level: 1 }).waitFor();
      await page.getByRole('link', { name, exact: true }).click();
      await page.getByRole('heading', { name, level: 1 }).waitFor();
      await shot(page, 'k-libvirt-vm');
      const vmMenu = () => page.getByRole('navigation', { name: fill(T['vm.menu'], { name }) });
      await vmMenu().getByRole('link', { name: T['vm.backup'], exact: true }).click();
      const enableForm = page.getByRole('form', { name: T['vmBackup.enableTitle'] });
      await enableForm.waitFor();
      await enableForm.getByRole('radio', { name: T['common.createNew'] }).check();
      await page.getByLabel(T['vmBackup.newVaultName']).fill(`kvm-vault-${lang}`);
      await page.getByRole('button', { name: T['backup.enable'], exact: true }).click();
      await page.getByText(T['state.initialPending']).waitFor();

      await page.getByRole('button', { name: T['backupNow.title'], exact: true }).click();
      const dialog = page.getByRole('dialog', { name: T['backupNow.title'] });
      await dialog.getByRole('button', { name: T['common.ok'], exact: true }).click();
      await dialog.waitFor({ state: 'detached' });
      await expectNotification(page, T, fill(T['job.note.completed'], { op: T['op.Backup'], name }), shot, 'k-backup-completed');

      // The wizard: restore as a new VM, on the same host.
      await services(page, T).getByRole('link', { name: T['nav.vms'] }).click();
      await page.getByRole('heading', { name: T['nav.vms'], level: 1 }).waitFor();
      await page.getByRole('link', { name, exact: true }).click();
      await vmMenu().getByRole('link', { name: T['vm.backup'], exact: true }).click();
      await page.getByRole('table', { name: T['rp.title'] }).getByText(T['consistency.CrashConsistent']).waitFor();
      await page.getByRole('toolbar').getByRole('link', { name: T['restore.title'] }).click();
      await page.getByRole('heading', { name: T['restore.pageTitle'], level: 1 }).waitFor();
      await page.getByLabel(T['restore.type'], { exact: true }).selectOption('AlternateLocation');
      await page.getByLabel(T['restore.vmName']).fill(copy);
      await shot(page, 'k-restore-new-domain');
      await page.getByRole('button', { name: T['restore.submit'], exact: true }).click();
      await page.getByRole('heading', { name: `${T['op.Restore']} - ${name}`, level: 1 }).waitFor();
      await page.getByRole('definition').filter({ hasText: T['status.Completed'] }).first().waitFor({ timeout: JOB_TIMEOUT });
      const props = page.getByRole('table', { name: T['jobs.propertyBag'] });
      await props.getByRole('row').filter({ has: page.getByRole('cell', { name: T['bag.Libvirt Domain'], exact: true }) })
        .filter({ has: page.getByRole('cell', { name: copy, exact: true }) }).waitFor();
      await props.getByRole('cell', { name: T['bag.Libvirt Domain UUID'], exact: true }).waitFor();
      await shot(page, 'k-restore-completed');

      // libvirt has the new domain, shut off, on a disk equal to the source.
      assert.equal(virsh('domstate', copy).trim(), 'shut off');
      const restored = virsh('domblklist', copy, '--details').split('\n')
        .map((l) => l.trim().split(/\s+/)).find((f) => f[1] === 'disk' && f[2] === 'vda')[3];
      assert.notEqual(restored, disk);
      execFileSync('qemu-img', ['compare', disk, restored], { stdio: 'ignore' });
      await services(page, T).getByRole('link', { name: T['nav.vms'] }).click();
      await page.getByRole('link', { name: copy, exact: true }).waitFor();

      assert.deepEqual(browser.errors, []);
      await browser.close();
      assert.equal(await server.stop(), 0, 'rsvault serve exits cleanly on SIGTERM');
    });

    // A hypervisor host enrolled from the portal: the enrollment form makes
    // a one-time token, an `rsvault agent` on libvirt's test driver takes
    // it, and the hosts list shows the host Connected, then Disconnected
    // once its agent stops.
    test(`(l) a host enrolled with a token from the portal, its agent's status live [${lang}]`, { timeout: TEST_TIMEOUT }, async (t) => {
      const server = await startServer({ config: '[agents]\nheartbeat_seconds = 1\nstale_after_seconds = 3\n' });
      t.after(() => server.stop());
      const browser = await openBrowser(locale);
      t.after(() => browser.close());
      const { page } = browser;
      await signIn(page, server, T);
      await services(page, T).getByRole('link', { name: T['nav.hosts'] }).click();
      await page.getByRole('heading', { name: T['nav.hosts'], level: 1 }).waitFor();
      await page.getByText(T['hosts.empty']).waitFor();
      const form = page.getByRole('form', { name: T['hosts.enrolTitle'] });
      await form.getByLabel(T['common.resourceGroup']).fill(`rg-hosts-${lang}`);
      await form.getByLabel(T['common.location']).selectOption('japaneast');
      await form.getByRole('button', { name: T['hosts.makeToken'] }).click();
      const command = form.getByLabel(T['hosts.command']);
      await command.waitFor();
      const token = await command.getAttribute('data-token');
      assert.match(await command.inputValue(), /^rsvault agent --server https:\/\/127\.0\.0\.1:\d+ --enroll 'rsv1\./);
      await shot(page, 'l-enrollment-token');

      const state = fs.mkdtempSync(path.join(os.tmpdir(), 'rsvault-portal-agent-'));
      t.after(() => fs.rmSync(state, { recursive: true, force: true }));
      const host = `portal-host-${lang}`;
      const agent = spawn(rsvaultBin(), ['agent', '--server', server.url, '--enroll', token, '--state-dir', state,
        '--name', host, '--libvirt', 'test:///default'], { stdio: 'ignore' });
      t.after(() => agent.kill('SIGKILL'));
      const row = page.getByRole('row').filter({ has: page.getByRole('cell', { name: host, exact: true }) });
      await row.getByRole('cell', { name: T['hosts.status.Connected'] }).waitFor({ timeout: 30000 });
      await row.getByRole('cell', { name: T['region.japaneast'] }).waitFor();
      await shot(page, 'l-host-connected');
      agent.kill('SIGKILL');
      await row.getByRole('cell', { name: new RegExp(`^${T['hosts.status.Disconnected']}`) }).waitFor({ timeout: 30000 });
      await row.getByText(/UserErrorGuestAgentStatusUnavailable|rsvault agent/).first().waitFor();
      await shot(page, 'l-host-disconnected');
      assert.deepEqual(browser.errors, []);
    });

    test(`(m) the subscriptions the caller can see: picked at sign-in, switched in the header, offered by Create vault [${lang}]`, { timeout: TEST_TIMEOUT }, async (t) => {
      const env = await setUp(t);
      const { server, page } = env;
      const other = '11111111-1111-4111-8111-111111111111';
      await call(server, 'PUT', `/subscriptions/${other}/resourceGroups/other-rg/providers/Microsoft.RecoveryServices/vaults/other-vault?api-version=2026-07-01`,
        { location: 'japaneast', sku: { name: 'Standard' } });
      await call(server, 'PUT', `${SUB}/resourceGroups/demo-rg/providers/Microsoft.RecoveryServices/vaults/m-vault?api-version=2026-07-01`,
        { location: 'japaneast', sku: { name: 'Standard' } });
      await page.goto(`${server.url}/`);
      await page.getByRole('heading', { name: T['signin.title'], level: 1 }).waitFor();
      assert.equal(await page.getByLabel(T['common.subscription']).count(), 0, 'no subscription is typed at sign-in');
      await signIn(page, server, T);
      const picker = page.getByRole('banner').getByRole('combobox', { name: T['common.subscription'] });
      assert.equal(await picker.inputValue(), '00000000-0000-0000-0000-000000000000', 'the first one the caller sees');
      assert.deepEqual((await picker.locator('option').evaluateAll((os) => os.map((o) => o.value))),
        ['00000000-0000-0000-0000-000000000000', other]);
      await page.getByRole('link', { name: 'm-vault', exact: true }).waitFor();
      assert.equal(await page.getByRole('link', { name: 'other-vault', exact: true }).count(), 0);
      await picker.selectOption(other);
      await page.getByRole('link', { name: 'other-vault', exact: true }).waitFor();
      await page.getByRole('link', { name: 'm-vault', exact: true }).waitFor({ state: 'detached' });
      await shot(page, 'm-subscription-switched');
      // Create vault offers the same list, the current one chosen, and
      // each subscription's own resource groups.
      await page.getByRole('toolbar').getByRole('link', { name: T['common.add'] }).click();
      await page.getByRole('heading', { name: T['vaults.createTitle'], level: 1 }).waitFor();
      const form = page.getByRole('form', { name: T['vaults.createTitle'] });
      const sub = form.getByLabel(T['common.subscription']);
      assert.equal(await sub.inputValue(), other);
      assert.deepEqual(await form.getByLabel(T['vault.rgExisting']).locator('option').allTextContents(), ['other-rg']);
      await sub.selectOption('00000000-0000-0000-0000-000000000000');
      await form.getByLabel(T['vault.rgExisting']).locator('option', { hasText: 'demo-rg' }).waitFor({ state: 'attached' });
      await shot(page, 'm-create-vault-subscription');
      // A reload keeps the subscription the portal works in.
      await page.reload();
      await page.getByRole('heading', { name: T['vaults.createTitle'], level: 1 }).waitFor();
      assert.equal(await page.getByRole('banner').getByRole('combobox', { name: T['common.subscription'] }).inputValue(), other);
      await tearDown(env);
    });

    test(`(n) an idle job list shows a backup started elsewhere by itself; notices collapse to one toast [${lang}]`, { timeout: TEST_TIMEOUT }, async (t) => {
      const env = await setUp(t);
      const { server, page } = env;
      const vault = `live-vault-${lang}`;
      const vp = `${SUB}/resourceGroups/demo-rg/providers/Microsoft.RecoveryServices/vaults/${vault}`;
      await protectOverApi(server, vault, 'db-01');
      await signIn(page, server, T);
      await page.goto(`${server.url}/#/vaults/demo-rg/${vault}/jobs`);
      await page.getByRole('heading', { name: T['jobs.title'], level: 1 }).waitFor();
      const cell = (name) => page.getByRole('cell', { name, exact: true });
      const backups = page.getByRole('row').filter({ has: cell(T['op.Backup']) });
      await page.getByRole('row').filter({ has: cell(T['op.ConfigureBackup']) }).first().waitFor();
      assert.equal(await backups.count(), 0);
      // Backup now from "another tab" (the API): the list, never touched,
      // shows the job, then follows it to its end.
      const item = `${vp}/backupFabrics/Azure/protectionContainers/IaasVMContainer;iaasvmcontainerv2;demo-rg;db-01/protectedItems/VM;iaasvmcontainerv2;demo-rg;db-01`;
      await call(server, 'POST', `${item}/backup`, { properties: { objectType: 'IaasVMBackupRequest', recoveryPointExpiryTimeInUTC: '2090-01-01T00:00:00Z' } });
      await backups.first().waitFor({ timeout: 10000 });
      await waitJobCompleted(page, T, 'Backup', 'db-01');
      await shot(page, 'n-job-list-followed');
      // The vault's Backup usage: one small instance, the store beside what was backed up.
      await vaultMenu(page, T, vault).getByRole('link', { name: T['vault.overview'] }).click();
      const usage = page.getByRole('region', { name: T['usage.title'] });
      await usage.waitFor();
      const value = async (k) => (await usage.getByRole('term').filter({ hasText: T[k] }).locator('xpath=following-sibling::dd[1]').innerText()).trim();
      assert.equal(await value('usage.instances'), fill(T['usage.instancesOf'], { n: 1, small: 1, large: 0 }));
      assert.equal(await value('usage.points'), '1');
      assert.match(await value('usage.stored'), /^[\d.,]+ (B|KB|MB)$/);
      assert.match(await value('usage.saving'), /^\d+ ?%$/);
      // Geo-redundant: the secondary copy and how far it lags.
      assert.ok((await value('usage.secondaryCopy')).startsWith(`${T['region.japanwest']}: `), await value('usage.secondaryCopy'));
      assert.match(await value('usage.secondaryCopy'), /\d (B|KB|MB)\b/, 'what the secondary copy occupies');
      assert.match(await value('usage.replicationLag'), /\d/);
      // Per item: db-01 (96 MiB) in the smallest band, its one point.
      const perItem = usage.getByRole('table', { name: T['usage.perItem'] }).getByRole('row').filter({ has: cell('db-01') });
      await perItem.getByRole('cell', { name: T['usage.band.small'], exact: true }).waitFor();
      assert.equal(await perItem.getByRole('cell').nth(3).innerText(), '1');
      assert.match(await perItem.getByRole('cell').nth(4).innerText(), /^[\d.,]+ MB$/);
      await shot(page, 'n-backup-usage');
      // Three notices in a row: one toast, which says how many more the bell holds.
      await page.evaluate(async () => {
        const { notify } = await import('/portal/notifications.js');
        for (const n of [1, 2, 3]) notify({ title: `notice ${n}`, message: 'm' });
      });
      const toasts = page.getByRole('status', { name: T['notif.toasts'] }).locator('.toast');
      await toasts.filter({ hasText: 'notice 3' }).waitFor();
      assert.equal(await toasts.count(), 1);
      assert.match(await toasts.first().innerText(), new RegExp(fill(T['notif.more'], { n: 2 }).replace(/[()]/g, '\\$&')));
      await shot(page, 'n-one-toast');
      await tearDown(env);
    });

    test(`(o) 360 px wide: every page of both walkthroughs fits, tables scroll in their own box, toasts stay on screen [${lang}]`, { timeout: TEST_TIMEOUT }, async (t) => {
      const env = await setUp(t);
      const { server, page } = env;
      const vault = `phone-vault-${lang}`;
      const vp = `${SUB}/resourceGroups/demo-rg/providers/Microsoft.RecoveryServices/vaults/${vault}`;
      await protectOverApi(server, vault, 'db-01');
      const container = 'IaasVMContainer;iaasvmcontainerv2;demo-rg;db-01';
      const item = `${vp}/backupFabrics/Azure/protectionContainers/${container}/protectedItems/VM;iaasvmcontainerv2;demo-rg;db-01`;
      await call(server, 'POST', `${item}/backup`, { properties: { objectType: 'IaasVMBackupRequest', recoveryPointExpiryTimeInUTC: '2090-01-01T00:00:00Z' } });
      let jobs;
      for (;;) {
        jobs = (await (await call(server, 'GET', `${vp}/backupJobs`)).json()).value;
        if (jobs.every((j) => j.properties.status !== 'InProgress')) break;
        await new Promise((res) => setTimeout(res, 200));
      }
      // A restore of disks, for the storage account's pages.
      const rp = (await (await call(server, 'GET', `${item}/recoveryPoints`)).json()).value[0];
      const sa = `phonesa${lang}`;
      await call(server, 'POST', `${item}/recoveryPoints/${rp.name}/restore`, {
        properties: {
          objectType: 'IaasVMRestoreRequest', recoveryPointId: rp.name, recoveryType: 'RestoreDisks', region: 'japaneast',
          sourceResourceId: `${SUB}/resourceGroups/demo-rg/providers/Microsoft.Compute/virtualMachines/db-01`,
          storageAccountId: `${SUB}/resourceGroups/demo-rg/providers/Microsoft.Storage/storageAccounts/${sa}`,
        },
      });
      let restored;
      for (;;) {
        jobs = (await (await call(server, 'GET', `${vp}/backupJobs`)).json()).value;
        restored = jobs.find((j) => j.properties.operation === 'Restore');
        if (restored && restored.properties.status !== 'InProgress') break;
        await new Promise((res) => setTimeout(res, 200));
      }
      assert.equal(restored.properties.status, 'Completed');
      const restoredContainer = (await (await call(server, 'GET', `${SUB}/resourceGroups/demo-rg/providers/Microsoft.Storage/storageAccounts/${sa}/blobServices/default/containers`)).json()).value[0].name;
      await page.setViewportSize({ width: 360, height: 780 });
      await signIn(page, server, T);
      const v = `#/vaults/demo-rg/${vault}`;
      const it = `${v}/items/${encodeURIComponent(container)}/${encodeURIComponent('VM;iaasvmcontainerv2;demo-rg;db-01')}`;
      const pages = ['#/vaults', '#/services', '#/vaults/create', v, `${v}/backup`, `${v}/items`, it, `${it}/restore`, `${v}/jobs`,
        `${v}/jobs/${encodeURIComponent(jobs[0].name)}`, `${v}/policies`, `${v}/policies/DefaultPolicy`, `${v}/infrastructure`,
        `${v}/security`, '#/vms', '#/vms/compute/demo-rg/db-01', '#/vms/compute/demo-rg/db-01/backup', '#/hosts',
        `${v}/jobs/${encodeURIComponent(restored.name)}`, '#/storage', `#/storage/demo-rg/${sa}`,
        `#/storage/demo-rg/${sa}/containers/${encodeURIComponent(restoredContainer)}`];
      const overflow = () => page.evaluate(() => {
        const w = document.documentElement.clientWidth;
        const out = [];
        if (document.documentElement.scrollWidth > w) out.push(`the page scrolls sideways: ${document.documentElement.scrollWidth} > ${w}`);
        const clipped = (el) => {
          for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
            if (['auto', 'scroll', 'hidden', 'clip'].includes(getComputedStyle(p).overflowX)) return true;
          }
          return false;
        };
        for (const el of document.querySelectorAll('body *')) {
          const st = getComputedStyle(el);
          // The skip link waits off screen until it has focus, on purpose.
          if (st.visibility === 'hidden' || st.display === 'none' || el.closest('.skip-link')) continue;
          const r = el.getBoundingClientRect();
          if (r.width < 2 || r.height < 2 || clipped(el)) continue;
          if (r.right > w + 0.5 || r.left < -0.5) out.push(`${el.tagName.toLowerCase()}.${el.className}: ${Math.round(r.left)}…${Math.round(r.right)}`);
        }
        return out.slice(0, 8);
      });
      for (const [i, hash] of pages.entries()) {
        await page.goto(`${server.url}/${hash}`);
        await page.locator('main h1').first().waitFor();
        await page.locator('main p.loading').waitFor({ state: 'detached' });
        await page.waitForLoadState('networkidle');
        assert.deepEqual(await overflow(), [], `${hash} fits 360 px`);
        // db-01's disks are no managed disks: they are blobs of the container.
        if (hash.includes('/containers/')) {
          const disks = page.getByRole('table', { name: T['storage.blobs'] }).getByRole('row')
            .filter({ has: page.getByRole('cell', { name: T['storage.content.disk'], exact: true }) });
          assert.equal(await disks.count(), 1, 'its one (OS) disk');
          assert.equal(await disks.filter({ has: page.getByRole('cell', { name: T['storage.blobType.PageBlob'], exact: true }) }).count(), 1);
        }
        if (i < 3 || hash.endsWith('/items') || hash.endsWith('/jobs') || hash.endsWith('/backup') || hash.includes('/containers/')) await shot(page, `o-360-${i}`);
      }
      // Backup now on the items page: its notice is on screen.
      await page.goto(`${server.url}/${v}/items`);
      await page.getByRole('button', { name: fill(T['items.moreActions'], { name: 'db-01' }) }).click();
      await page.getByRole('menu').getByRole('menuitem', { name: T['backupNow.title'] }).click();
      await page.getByRole('dialog', { name: T['backupNow.title'] }).getByRole('button', { name: T['common.ok'], exact: true }).click();
      // The toast shown (a newer notice may replace it while it is measured).
      const box = await page.waitForFunction(() => {
        const el = document.querySelector('.toasts .toast');
        if (!el) return null;
        const r = el.getBoundingClientRect();
        return { x: r.x, y: r.y, width: r.width, height: r.height };
      }).then((h) => h.jsonValue());
      assert.ok(box.x >= 0 && box.x + box.width <= 360 && box.y >= 0 && box.y + box.height <= 780, JSON.stringify(box));
      assert.deepEqual(await overflow(), []);
      await shot(page, 'o-360-backup-now');
      await tearDown(env);
    });

    test(`(g) a user signs in with a password; a wrong one is refused [${lang}]`, { timeout: TEST_TIMEOUT }, async (t) => {
      const env = await setUp(t);
      const { server, page } = env;
      const made = await (await call(server, 'POST', '/rsvault/directory/users?api-version=2022-04-01',
        { userPrincipalName: 'reader@rsvault.local', displayName: 'Reader', password: 'a long test password' })).json();
      const defs = await (await call(server, 'GET', `${SUB}/providers/Microsoft.Authorization/roleDefinitions?api-version=2022-05-01-preview&$filter=${encodeURIComponent("roleName eq 'Backup Reader'")}`)).json();
      await call(server, 'PUT', `${SUB}/providers/Microsoft.Authorization/roleAssignments/${crypto.randomUUID()}?api-version=2022-04-01`,
        { properties: { roleDefinitionId: defs.value[0].id, principalId: made.objectId, principalType: 'User' } });
      await page.goto(`${server.url}/`);
      await page.getByRole('heading', { name: T['signin.title'], level: 1 }).waitFor();
      await page.getByLabel(T['signin.appId']).fill('reader@rsvault.local');
      await page.getByLabel(T['signin.secret']).fill('not the password');
      await page.getByRole('button', { name: T['signin.submit'], exact: true }).click();
      await page.getByText(T['signin.err.rejected']).waitFor();
      assert.equal(await page.getByLabel(T['signin.secret']).inputValue(), '', 'the wrong secret is cleared');
      await page.getByLabel(T['signin.secret']).fill('a long test password');
      await page.getByRole('button', { name: T['signin.submit'], exact: true }).click();
      await page.getByRole('heading', { name: T['nav.vaults'], level: 1 }).waitFor();
      const stored = await page.evaluate(() => JSON.stringify(sessionStorage));
      assert.ok(!stored.includes('a long test password'), 'the password is not kept');
      assert.ok(!page.url().includes('token'), 'no token in the URL');
      await shot(page, 'g-signed-in-as-a-user');
      // A Backup Reader sees the vault, but what it may not do is disabled, saying why.
      await call(server, 'PUT', `${SUB}/resourceGroups/demo-rg/providers/Microsoft.RecoveryServices/vaults/read-only-${lang}?api-version=2026-07-01`,
        { location: 'westeurope', sku: { name: 'Standard' } });
      await page.goto(`${server.url}/#/vaults/demo-rg/read-only-${lang}`);
      await page.getByRole('heading', { name: `read-only-${lang}`, level: 1 }).waitFor();
      const tools = page.getByRole('main').getByRole('toolbar');
      for (const label of [T['verify.now'], T['common.delete']]) {
        const b = tools.getByRole('button', { name: label, exact: true });
        assert.equal(await b.isDisabled(), true, `${label} is disabled for a Backup Reader`);
        assert.equal(await b.getAttribute('title'), T['rbac.denied']);
      }
      assert.equal(await tools.getByRole('button', { name: T['common.refresh'] }).isDisabled(), false);
      await vaultMenu(page, T, `read-only-${lang}`).getByRole('link', { name: T['policies.title'] }).click();
      await page.getByRole('heading', { name: T['policies.title'], level: 1 }).waitFor();
      assert.equal(await page.getByRole('main').getByRole('toolbar').getByRole('button', { name: T['common.add'] }).isDisabled(), true);
      await shot(page, 'g-reader-sees-disabled-commands');
      await tearDown(env);
    });

    test(`(h) Security settings: a resource guard linked and removed, immutability, and the vault's activity log [${lang}]`, { timeout: TEST_TIMEOUT }, async (t) => {
      const env = await setUp(t);
      const { server, page } = env;
      const vault = `guarded-${lang}`;
      const vp = `${SUB}/resourceGroups/demo-rg/providers/Microsoft.RecoveryServices/vaults/${vault}`;
      await call(server, 'PUT', `${vp}?api-version=2026-07-01`, { location: 'westeurope', sku: { name: 'Standard' } });
      const guard = `${SUB}/resourceGroups/security-rg/providers/Microsoft.DataProtection/resourceGuards/guard-${lang}`;
      await call(server, 'PUT', `${guard}?api-version=2025-07-01`, { location: 'westeurope', properties: {} });
      await signIn(page, server, T);
      await page.goto(`${server.url}/#/vaults/demo-rg/${vault}`);
      await page.getByRole('heading', { name: vault, level: 1 }).waitFor();
      await vaultMenu(page, T, vault).getByRole('link', { name: T['sec.title'] }).click();
      await page.getByRole('heading', { name: T['sec.title'], level: 1 }).waitFor();
      await page.getByLabel(T['sec.mua.guard']).fill(`${guard.replace(`guard-${lang}`, 'no-such-guard')}`);
      await page.getByRole('button', { name: T['common.save'] }).first().click();
      await page.getByRole('alert').filter({ hasText: 'no-such-guard' }).waitFor();
      await page.getByLabel(T['sec.mua.guard']).fill(guard);
      await page.getByRole('button', { name: T['common.save'] }).first().click();
      await page.getByText(fill(T['sec.mua.on'], { guard: `guard-${lang}` })).waitFor();
      await shot(page, 'h-multi-user-authorization');
      // Immutability: Unlocked, then Disabled again (the Owner holds the guard's rights).
      // The storage's object lock follows it: the test server's stores are
      // local folders, which have none.
      await page.getByRole('definition').filter({ hasText: T['sec.lock.Disabled'] }).waitFor();
      await page.getByLabel(T['sec.imm.state']).selectOption('Unlocked');
      await page.getByRole('button', { name: T['common.save'] }).last().click();
      await page.getByRole('definition').filter({ hasText: T['sec.imm.Unlocked'] }).waitFor();
      const lockRow = (key) => page.getByRole('definition').filter({ hasText: fill(T[key], { mode: T['sec.lock.Governance'], n: 14 }) });
      await lockRow('sec.lock.Pending').or(lockRow('sec.lock.NotSupported')).waitFor();
      await page.getByLabel(T['sec.imm.state']).selectOption('Disabled');
      await page.getByRole('button', { name: T['common.save'] }).last().click();
      await page.getByRole('definition').filter({ hasText: T['sec.imm.Disabled'] }).waitFor();
      // Remove the guard: unlockDelete, then DELETE.
      await page.getByRole('button', { name: T['sec.mua.remove'] }).click();
      await page.getByRole('dialog', { name: T['sec.mua.remove'] }).getByRole('button', { name: T['sec.mua.remove'] }).click();
      // The blade reloads without the guard: its Remove button goes.
      await page.getByRole('button', { name: T['sec.mua.remove'] }).waitFor({ state: 'hidden' });
      const linked = await (await call(server, 'GET', `${vp}/backupResourceGuardProxies?api-version=2026-08-01`)).json();
      assert.deepEqual(linked.value, []);

      // The activity log: every write, newest first, with its caller.
      await vaultMenu(page, T, vault).getByRole('link', { name: T['activity.title'] }).click();
      await page.getByRole('heading', { name: T['activity.title'], level: 1 }).waitFor();
      const rows = page.getByRole('main').getByRole('table').locator('tbody tr');
      await rows.first().waitFor();
      const ops = await rows.locator('td:first-child').allTextContents();
      assert.ok(ops.includes('Microsoft.RecoveryServices/vaults/backupResourceGuardProxies/write'), ops.join(', '));
      assert.ok(ops.includes('Microsoft.RecoveryServices/vaults/backupResourceGuardProxies/unlockDelete/action'), ops.join(', '));
      assert.equal(ops[0], 'Microsoft.RecoveryServices/vaults/backupResourceGuardProxies/delete', 'newest first');
      const failed = rows.filter({ hasText: T['activity.status.Failed'] });
      assert.ok(await failed.count() >= 1, 'the refused link to a missing guard is in the log');
      assert.ok((await rows.first().textContent()).includes(server.owner.appId), 'the caller is named');
      await shot(page, 'h-activity-log');
      await tearDown(env);
    });

    test(`(b) from the vault: create vault → Backup → goal, new policy, VM → Enable backup → Backup now → jobs → restore [${lang}]`, { timeout: TEST_TIMEOUT }, async (t) => {
      const env = await setUp(t);
      const { server, page } = env;
      await signIn(page, server, T);
      const vault = `portal-vault-${lang}`;
      // A vault in another resource group: the create form offers the
      // subscription's groups as the server lists them (GET .../resourcegroups).
      await call(server, 'PUT', `${SUB}/resourceGroups/team-rg-${lang}/providers/Microsoft.RecoveryServices/vaults/team-vault-${lang}?api-version=2026-07-01`,
        { location: 'westeurope', sku: { name: 'Standard' } });
      const serverGroups = (await (await call(server, 'GET', `${SUB}/resourcegroups?api-version=2021-04-01`)).json()).value.map((g) => g.name).sort();
      assert.deepEqual(serverGroups, ['demo-rg', `team-rg-${lang}`]);

      // Create the vault; the name rule is checked as you type.
      await page.getByRole('toolbar').getByRole('link', { name: T['common.add'] }).click();
      await page.getByRole('heading', { name: T['vaults.createTitle'], level: 1 }).waitFor();
      const name = page.getByLabel(T['common.name'], { exact: true });
      await name.fill('1vault');
      await page.getByText(T['vault.err.name']).waitFor();
      assert.equal(await name.getAttribute('aria-invalid'), 'true');
      await shot(page, 'b-vault-name-rule');
      await name.fill(vault);
      await page.getByText(T['vault.err.name']).waitFor({ state: 'detached' });
      assert.equal(await page.getByRole('radio', { name: T['common.useExisting'] }).isChecked(), true);
      assert.equal(await page.getByLabel(T['vault.rgExisting']).inputValue(), 'demo-rg');
      assert.deepEqual(await page.getByLabel(T['vault.rgExisting']).locator('option').allTextContents(), serverGroups);
      // "Create new" is still there: a new group's name, checked on submit.
      await page.getByRole('radio', { name: T['common.createNew'] }).check();
      await page.getByLabel(T['vault.rgNewName']).waitFor();
      await page.getByRole('radio', { name: T['common.useExisting'] }).check();
      await page.getByLabel(T['vault.rgNewName']).waitFor({ state: 'hidden' });
      await page.getByLabel(T['common.location'], { exact: true }).selectOption('japaneast');
      await shot(page, 'b-create-vault');
      await page.getByRole('button', { name: T['common.create'], exact: true }).click();
      await page.getByRole('heading', { name: T['nav.vaults'], level: 1 }).waitFor();
      await page.getByRole('link', { name: vault, exact: true }).click();
      await page.getByRole('heading', { name: vault, level: 1 }).waitFor();
      await shot(page, 'b-vault-dashboard');

      // Backup infrastructure → Backup configuration: locally-redundant.
      await vaultMenu(page, T, vault).getByRole('link', { name: T['infra.title'] }).click();
      await page.getByRole('link', { name: T['config.title'] }).click();
      await page.getByRole('heading', { name: T['config.title'], level: 1 }).waitFor();
      assert.equal(await page.getByRole('radio', { name: T['redundancy.GeoRedundant'] }).isChecked(), true);
      await page.getByRole('radio', { name: T['redundancy.LocallyRedundant'] }).check();
      await page.getByRole('button', { name: T['common.save'] }).click();
      await page.getByRole('main').getByRole('status').filter({ hasText: T['config.saved'] }).waitFor();
      await shot(page, 'b-backup-configuration');

      // Backup: goal.
      await vaultMenu(page, T, vault).getByRole('link', { name: T['vault.backup'], exact: true }).click();
      await page.getByRole('heading', { name: T['goal.title'] }).waitFor();
      assert.equal(await page.getByLabel(T['goal.where']).inputValue(), 'Azure');
      assert.equal(await page.getByLabel(T['goal.what']).inputValue(), 'VM');
      await shot(page, 'b-backup-goal');
      await page.getByRole('button', { name: T['common.ok'], exact: true }).click();

      // Policy: a new one, after the editor's inline checks.
      await page.getByLabel(T['backup.choosePolicy']).waitFor();
      await page.getByRole('button', { name: T['common.createNew'] }).click();
      const editor = page.getByRole('dialog', { name: T['policy.createTitle'] });
      await editor.waitFor();
      await editor.getByLabel(T['policy.name']).fill('x');
      await editor.getByText(T['policy.err.name']).waitFor();
      await editor.getByLabel(T['policy.forDays'], { exact: true }).fill('3');
      await editor.getByText(fill(T['policy.err.range'], { min: 7, max: 9999 })).waitFor();
      await shot(page, 'b-policy-validation');
      await editor.getByRole('button', { name: T['common.ok'], exact: true }).click();
      await editor.getByText(T['policy.err.fix']).waitFor();
      const policyName = `daily-2230-${lang}`;
      await editor.getByLabel(T['policy.name']).fill(policyName);
      await editor.getByLabel(T['policy.forDays'], { exact: true }).fill('14');
      // The server's verdict lands at the field it names. (This answer is
      // injected once: every rule the server checks, the editor checks first.)
      const serverMessage = 'properties.instantRpRetentionRangeInDays: must be between 1 and 5 days for a Standard (V1) policy';
      await page.route(/\/backupPolicies\//i, (route) => route.fulfill({
        status: 400,
        contentType: 'application/json',
        body: JSON.stringify({ error: { code: 'BMSUserErrorInvalidPolicyInput', message: serverMessage } }),
      }), { times: 1 });
      await editor.getByRole('button', { name: T['common.ok'], exact: true }).click();
      await editor.getByText(T['policy.err.server']).waitFor();
      const instant = editor.getByLabel(T['policy.instantLabel']);
      assert.equal(await instant.getAttribute('aria-invalid'), 'true');
      // The server's wording at the field; in Japanese, after the portal's own, marked as the server's, with its code.
      const shown = lang === 'en' ? serverMessage : `${fill(T['err.BMSUserErrorInvalidPolicyInput'], { text: serverMessage })} (BMSUserErrorInvalidPolicyInput)`;
      assert.equal(await page.evaluate((id) => document.getElementById(id).textContent, `${await instant.getAttribute('id')}-error`), shown);
      await page.unroute(/\/backupPolicies\//i);
      await editor.getByText(T['policy.err.name']).waitFor({ state: 'detached' });
      await editor.getByLabel(T['policy.forDays'], { exact: true }).fill('14');
      await editor.getByLabel(T['policy.time'], { exact: true }).selectOption('22:30');
      await editor.getByLabel(T['policy.timeZone']).selectOption('Tokyo Standard Time');
      await editor.getByRole('checkbox', { name: T['policy.retWeekly'] }).check();
      await editor.getByLabel(T['policy.forWeeks'], { exact: true }).fill('8');
      await shot(page, 'b-policy-editor');
      await editor.getByRole('button', { name: T['common.ok'], exact: true }).click();
      await editor.waitFor({ state: 'detached' });
      assert.equal(await page.getByLabel(T['backup.choosePolicy']).inputValue(), policyName);
      await page.getByText(fill(T['policy.sched.daily'], { time: '22:30', tz: T['tz.Tokyo Standard Time'] })).waitFor();
      await page.getByText(fill(T['policy.keepDays'], { n: 14 })).waitFor();
      await shot(page, 'b-backup-policy');
      await page.getByRole('button', { name: T['common.ok'], exact: true }).click();

      // Select virtual machines: only the unprotected VMs of the vault's region.
      const vms = page.getByRole('table', { name: T['backup.selectVms'] });
      await vms.getByRole('checkbox', { name: 'db-01' }).waitFor();
      await vms.getByRole('checkbox', { name: 'web-01' }).waitFor();
      await vms.getByRole('checkbox', { name: 'legacy-01' }).waitFor();
      assert.equal(await vms.getByRole('checkbox', { name: 'app-eu-01' }).count(), 0, 'westeurope VMs are not offered');
      await vms.getByRole('checkbox', { name: 'db-01' }).check();
      await shot(page, 'b-select-vms');
      // A reload keeps the wizard where it was: the step, the policy and the VM are in the URL.
      assert.match(page.url(), new RegExp(`/backup\\?step=3&policy=${policyName}&vms=`));
      await page.reload();
      await vms.getByRole('checkbox', { name: 'db-01' }).waitFor();
      assert.equal(await vms.getByRole('checkbox', { name: 'db-01' }).isChecked(), true);
      assert.equal(await vms.getByRole('checkbox', { name: 'web-01' }).isChecked(), false);
      await page.locator('.step p.summary').filter({ hasText: policyName }).waitFor();
      await page.getByRole('button', { name: T['common.ok'], exact: true }).click();
      await page.getByRole('button', { name: T['backup.enable'], exact: true }).click();

      // Backup items: db-01, initial backup pending.
      await page.getByRole('heading', { name: T['items.title'], level: 1 }).waitFor();
      const row = page.getByRole('row').filter({ hasText: 'db-01' });
      await row.getByText(T['state.initialPending']).waitFor();
      await row.getByText(policyName).waitFor();
      await shot(page, 'b-backup-items');

      // "…" → Backup now, by keyboard; Escape closes the dialog and focus comes back.
      const more = page.getByRole('button', { name: fill(T['items.moreActions'], { name: 'db-01' }) });
      await more.focus();
      await page.keyboard.press('Enter');
      const menu = page.getByRole('menu', { name: fill(T['items.moreActions'], { name: 'db-01' }) });
      await menu.waitFor();
      assert.equal(await menu.getByRole('menuitem', { name: T['undelete.title'] }).getAttribute('aria-disabled'), 'true');
      await shot(page, 'b-context-menu');
      assert.equal(await page.evaluate(() => document.activeElement.textContent), T['backupNow.title']);
      await page.keyboard.press('Enter');
      const dialog = page.getByRole('dialog', { name: T['backupNow.title'] });
      await dialog.waitFor();
      await page.keyboard.press('Escape');
      await dialog.waitFor({ state: 'detached' });
      await more.click();
      await menu.getByRole('menuitem', { name: T['backupNow.title'] }).click();
      await dialog.waitFor();
      await shot(page, 'b-backup-now');
      await dialog.getByRole('button', { name: T['common.ok'], exact: true }).click();
      await dialog.waitFor({ state: 'detached' });

      // Backup jobs: the job Completed, its progress 100 %, then its details.
      await vaultMenu(page, T, vault).getByRole('link', { name: T['jobs.title'] }).click();
      await page.getByRole('heading', { name: T['jobs.title'], level: 1 }).waitFor();
      await waitJobCompleted(page, T, 'Backup', 'db-01');
      await page.getByRole('row').filter({ hasText: T['op.ConfigureBackup'] }).first().waitFor();
      await shot(page, 'b-backup-jobs');
      await page.getByRole('link', { name: fill(T['jobs.detailsOf'], { op: T['op.Backup'], name: 'db-01' }) }).click();
      await page.getByRole('heading', { name: `${T['op.Backup']} - db-01`, level: 1 }).waitFor();
      const tasks = page.getByRole('table', { name: T['jobs.tasks'] });
      await tasks.getByRole('row').filter({ hasText: T['task.Take Snapshot'] }).filter({ hasText: T['status.Completed'] }).waitFor();
      await tasks.getByRole('row').filter({ hasText: T['task.Transfer data to vault'] }).filter({ hasText: T['status.Completed'] }).waitFor();
      await page.getByRole('table', { name: T['jobs.propertyBag'] }).getByRole('cell', { name: T['bag.Backup Size'] }).waitFor();
      // The point the job made, by its time (its id in the tooltip), linked to the item.
      const rpRow = page.getByRole('table', { name: T['jobs.propertyBag'] }).getByRole('row')
        .filter({ has: page.getByRole('cell', { name: T['bag.Recovery Point'], exact: true }) });
      const rpLink = rpRow.getByRole('link');
      assert.match(await rpLink.innerText(), /\d{4}\D.*\d:\d\d/);
      assert.match(await rpRow.getByRole('cell').last().getAttribute('title'), /^\d+$/);
      assert.match(await rpLink.getAttribute('href'), /\/items\/IaasVMContainer/);
      await shot(page, 'b-job-details');

      // The item's recovery point, then restore: a new VM (en) or the VM's own disks (ja; db-01 is stopped).
      await vaultMenu(page, T, vault).getByRole('link', { name: T['items.title'] }).click();
      await page.getByRole('heading', { name: T['items.title'], level: 1 }).waitFor();
      await page.getByRole('link', { name: 'db-01', exact: true }).click();
      await page.getByRole('heading', { name: 'db-01', level: 1 }).waitFor();
      await page.getByRole('table', { name: T['rp.title'] }).getByText(T['consistency.CrashConsistent']).waitFor();
      await shot(page, 'b-backup-item');
      await page.getByRole('toolbar').getByRole('link', { name: T['restore.title'] }).click();
      await page.getByRole('heading', { name: T['restore.pageTitle'], level: 1 }).waitFor();
      let target;
      if (lang === 'en') {
        await page.getByLabel(T['restore.type'], { exact: true }).selectOption('AlternateLocation');
        await page.getByLabel(T['restore.vmName']).fill('web-01');
        await page.getByRole('button', { name: T['restore.submit'], exact: true }).click();
        await page.getByRole('form', { name: T['restore.pageTitle'] }).getByText(/A VM named 'web-01' already exists/).waitFor();
        assert.equal(await page.getByLabel(T['restore.vmName']).getAttribute('aria-invalid'), 'true');
        await page.getByLabel(T['restore.vmName']).fill('db-01-copy');
        target = 'db-01-copy';
      } else {
        // The server's refusal in Japanese, its code beside it for support.
        await page.getByLabel(T['restore.type'], { exact: true }).selectOption('AlternateLocation');
        await page.getByLabel(T['restore.vmName']).fill('web-01');
        await page.getByRole('button', { name: T['restore.submit'], exact: true }).click();
        await page.getByRole('form', { name: T['restore.pageTitle'] }).getByText(`${T['err.UserErrorVmAlreadyExists']} (UserErrorVmAlreadyExists)`).waitFor();
        await shot(page, 'b-restore-refused');
        await page.getByRole('radio', { name: T['restore.replaceExisting'] }).check();
        await page.getByText(T['power.stopped']).waitFor();
      }
      await shot(page, 'b-restore');
      await page.getByRole('button', { name: T['restore.submit'], exact: true }).click();
      await page.getByRole('heading', { name: `${T['op.Restore']} - db-01`, level: 1 }).waitFor();
      await page.getByRole('definition').filter({ hasText: T['status.Completed'] }).first().waitFor({ timeout: JOB_TIMEOUT });
      if (target) await page.getByRole('cell', { name: target, exact: true }).waitFor();
      await shot(page, 'b-restore-completed');
      await expectNotification(page, T, fill(T['job.note.completed'], { op: T['op.Restore'], name: 'db-01' }), null, null);
      if (target) {
        await services(page, T).getByRole('link', { name: T['nav.vms'] }).click();
        await page.getByRole('link', { name: target }).waitFor();
      }

      // With an item protected, the storage replication type is locked.
      await services(page, T).getByRole('link', { name: T['nav.vaults'] }).click();
      await page.getByRole('heading', { name: T['nav.vaults'], level: 1 }).waitFor();
      await page.getByRole('link', { name: vault, exact: true }).click();
      await vaultMenu(page, T, vault).getByRole('link', { name: T['infra.title'] }).click();
      await page.getByRole('link', { name: T['config.title'] }).click();
      await page.getByText(T['config.lockedTitle']).waitFor();
      assert.equal(await page.getByRole('radio', { name: T['redundancy.LocallyRedundant'] }).isChecked(), true);
      assert.equal(await page.getByRole('radio', { name: T['redundancy.GeoRedundant'] }).isDisabled(), true);
      await shot(page, 'b-configuration-locked');

      // The dashboard's tiles count the item and the jobs.
      await vaultMenu(page, T, vault).getByRole('link', { name: T['vault.overview'] }).click();
      await page.getByRole('heading', { name: vault, level: 1 }).waitFor();
      await page.getByRole('link', { name: `${T['items.azureVm']}: 1` }).waitFor();
      await page.getByRole('link', { name: `${T['status.Completed']}: ` }).filter({ hasText: /: [1-9]/ }).waitFor();
      await shot(page, 'b-dashboard-after');

      // The other language, and back.
      const other = lang === 'en' ? 'ja' : 'en';
      await page.getByRole('button', { name: other === 'ja' ? '日本語' : 'English' }).click();
      await services(page, T).waitFor({ state: 'detached' });
      await page.getByRole('navigation', { name: messages[other]['shell.services'] }).getByRole('link', { name: messages[other]['nav.vaults'] }).waitFor();
      await page.getByRole('heading', { name: vault, level: 1 }).waitFor();
      await page.getByRole('button', { name: lang === 'ja' ? '日本語' : 'English' }).click();
      await services(page, T).waitFor();

      // Phone width: the navigation hides behind the Menu button.
      await page.setViewportSize({ width: 390, height: 844 });
      const menuButton = page.getByRole('button', { name: T['shell.menu'] });
      await menuButton.waitFor();
      assert.equal(await services(page, T).getByRole('link', { name: T['nav.vms'] }).isVisible(), false);
      await shot(page, 'b-phone');
      await menuButton.click();
      assert.equal(await menuButton.getAttribute('aria-expanded'), 'true');
      await services(page, T).getByRole('link', { name: T['nav.vms'] }).waitFor();
      await shot(page, 'b-phone-navigation');

      await tearDown(env);
    });

    test(`(c) backup item lifecycle from the "…" menu: Stop backup → Resume backup → Delete backup data → Undelete [${lang}]`, { timeout: TEST_TIMEOUT }, async (t) => {
      const env = await setUp(t);
      const { server, page } = env;
      const vault = `life-vault-${lang}`;
      await protectOverApi(server, vault, 'web-01');
      await signIn(page, server, T);
      await page.goto(`${server.url}/#/vaults/demo-rg/${vault}/items`);
      await page.getByRole('heading', { name: T['items.title'], level: 1 }).waitFor();
      const row = page.getByRole('row').filter({ hasText: 'web-01' });
      const menuName = fill(T['items.moreActions'], { name: 'web-01' });
      const choose = async (action) => {
        await page.getByRole('button', { name: menuName }).click();
        await page.getByRole('menu', { name: menuName }).getByRole('menuitem', { name: action }).click();
      };
      const disabled = async (action) => {
        await page.getByRole('button', { name: menuName }).click();
        const v = await page.getByRole('menu', { name: menuName }).getByRole('menuitem', { name: action }).getAttribute('aria-disabled');
        await page.keyboard.press('Escape');
        return v === 'true';
      };
      await row.getByText(T['state.initialPending']).waitFor();

      await choose(T['stop.title']);
      let dialog = page.getByRole('dialog', { name: T['stop.title'] });
      assert.equal(await dialog.getByRole('radio', { name: T['stop.retain'] }).isChecked(), true);
      await shot(page, 'c-stop-backup');
      await dialog.getByRole('button', { name: T['stop.title'], exact: true }).click();
      await row.getByRole('cell', { name: T['state.ProtectionStopped'], exact: true }).waitFor();
      assert.equal(await disabled(T['backupNow.title']), true, 'no Backup now once stopped');

      await choose(T['resume.title']);
      dialog = page.getByRole('dialog', { name: T['resume.title'] });
      assert.equal(await dialog.getByLabel(T['backup.choosePolicy']).inputValue(), 'DefaultPolicy');
      await dialog.getByRole('button', { name: T['resume.title'], exact: true }).click();
      await row.getByRole('cell', { name: T['state.IRPending'], exact: true }).waitFor();

      await choose(T['del.title']);
      dialog = page.getByRole('dialog', { name: T['del.title'] });
      await dialog.getByRole('button', { name: T['common.delete'], exact: true }).click();
      await dialog.getByText(fill(T['del.err.name'], { name: 'web-01' })).waitFor();
      await dialog.getByLabel(fill(T['del.typeName'], { name: 'web-01' })).fill('web-01');
      await shot(page, 'c-delete-backup-data');
      await dialog.getByRole('button', { name: T['common.delete'], exact: true }).click();
      await row.getByRole('cell', { name: T['state.SoftDeleted'], exact: true }).waitFor();
      assert.equal(await disabled(T['undelete.title']), false);
      assert.equal(await disabled(T['resume.title']), true);
      await shot(page, 'c-soft-deleted');

      await choose(T['undelete.title']);
      dialog = page.getByRole('dialog', { name: T['undelete.title'] });
      await dialog.getByRole('button', { name: T['undelete.title'], exact: true }).click();
      await row.getByRole('cell', { name: T['state.ProtectionStopped'], exact: true }).waitFor();
      await shot(page, 'c-undeleted');

      await vaultMenu(page, T, vault).getByRole('link', { name: T['jobs.title'] }).click();
      for (const op of ['ConfigureBackup', 'DisableBackup', 'DeleteBackupData', 'Undelete']) {
        await page.getByRole('row').filter({ has: page.getByRole('cell', { name: T[`op.${op}`], exact: true }) }).first().waitFor();
      }
      await shot(page, 'c-jobs');

      // A classic VM's Backup blade, into the existing vault ("Select existing").
      await services(page, T).getByRole('link', { name: T['nav.vms'] }).click();
      await page.getByRole('heading', { name: T['nav.vms'], level: 1 }).waitFor();
      await page.getByRole('row').filter({ hasText: 'legacy-01' }).getByText(T['vm.classic']).waitFor();
      await page.getByRole('link', { name: 'legacy-01', exact: true }).click();
      await page.getByRole('navigation', { name: fill(T['vm.menu'], { name: 'legacy-01' }) }).getByRole('link', { name: T['vm.backup'], exact: true }).click();
      const form = page.getByRole('form', { name: T['vmBackup.enableTitle'] });
      await form.waitFor();
      assert.equal(await form.getByRole('radio', { name: T['vmBackup.selectExisting'] }).isChecked(), true);
      assert.equal(await form.getByLabel(T['vmBackup.chooseVault'], { exact: true }).locator('option:checked').textContent(), vault);
      await form.getByText(fill(T['policy.sched.daily'], { time: '21:00', tz: T['tz.UTC'] })).waitFor();
      await shot(page, 'c-classic-vm-existing-vault');
      await form.getByRole('button', { name: T['backup.enable'], exact: true }).click();
      await page.getByText(T['state.initialPending']).waitFor();
      await page.getByRole('link', { name: vault, exact: true }).waitFor();
      await tearDown(env);
    });

    test(`(d) a backup that fails on its own: the job's error code, message and recommended action [${lang}]`, { timeout: TEST_TIMEOUT }, async (t) => {
      const env = await setUp(t);
      const { server, page } = env;
      const vm = `silent-${lang}`;
      const vault = `fail-vault-${lang}`;
      const qmp = await registerSilentVm(t, server, vm);
      await protectOverApi(server, vault, vm);
      await signIn(page, server, T);

      // The VM's Backup blade finds the item (through backupStatus); Backup now.
      await page.goto(`${server.url}/#/vms/compute/demo-rg/${vm}/backup`);
      await page.getByText(T['state.initialPending']).waitFor();
      await page.getByRole('link', { name: vault, exact: true }).waitFor();
      await page.getByRole('button', { name: T['backupNow.title'], exact: true }).click();
      const dialog = page.getByRole('dialog', { name: T['backupNow.title'] });
      await dialog.getByRole('button', { name: T['common.ok'], exact: true }).click();
      await dialog.waitFor({ state: 'detached' });
      // The page's console reports nothing for a job that fails: it is no HTTP error.
      await expectNotification(page, T, fill(T['job.note.failed'], { op: T['op.Backup'], name: vm }), null, null);

      // The jobs list: Failed.
      await page.getByRole('link', { name: T['item.viewJobs'] }).click();
      await page.getByRole('heading', { name: T['jobs.title'], level: 1 }).waitFor();
      const cell = (name) => page.getByRole('cell', { name, exact: true });
      const failed = page.getByRole('row').filter({ has: cell(T['op.Backup']) }).filter({ has: cell(vm) }).filter({ has: cell(T['status.Failed']) });
      await failed.waitFor({ timeout: JOB_TIMEOUT });
      await shot(page, 'd-jobs-failed');

      // The job's details: error code, message, recommended action.
      await failed.getByRole('link', { name: fill(T['jobs.detailsOf'], { op: T['op.Backup'], name: vm }) }).click();
      await page.getByRole('heading', { name: `${T['op.Backup']} - ${vm}`, level: 1 }).waitFor();
      const errors = page.getByRole('region', { name: T['jobs.errors'] });
      await errors.waitFor();
      await errors.getByText(`${T['jobs.errorCode']}: UserErrorVmSnapshotFailed`).waitFor();
      const message = await errors.getByText(`${T['jobs.errorMessage']}:`).locator('xpath=..').textContent();
      assert.match(message, /QMP socket/, message);
      assert.ok(message.includes(qmp), `the message names the socket: ${message}`);
      assert.match(message, /does not answer/, message);
      await errors.getByText(`${T['jobs.recommendations']}:`).waitFor();
      const advice = await errors.getByRole('listitem').allTextContents();
      assert.ok(advice.length >= 1 && advice.every((a) => a.trim().length > 10), `recommended actions: ${JSON.stringify(advice)}`);
      // In Japanese, the portal's own wording of the code's action.
      if (lang === 'ja') assert.deepEqual(advice, [T['rec.UserErrorVmSnapshotFailed']]);
      await page.getByRole('definition').filter({ hasText: T['status.Failed'] }).first().waitFor();
      await shot(page, 'd-job-error-details');

      await tearDown(env);
    });

    test(`(e) Backup policies → a policy → Modify policy: the editor prefilled, saved with PUT [${lang}]`, { timeout: TEST_TIMEOUT }, async (t) => {
      const env = await setUp(t);
      const { server, page } = env;
      const vault = `policy-vault-${lang}`;
      const vp = `${SUB}/resourceGroups/demo-rg/providers/Microsoft.RecoveryServices/vaults/${vault}`;
      await call(server, 'PUT', vp, { location: 'japaneast', sku: { name: 'Standard' } });
      const policy = `weekly-${lang}`;
      await call(server, 'PUT', `${vp}/backupPolicies/${policy}?api-version=2026-08-01`, {
        properties: {
          backupManagementType: 'AzureIaasVM',
          policyType: 'V1',
          timeZone: 'Tokyo Standard Time',
          instantRpRetentionRangeInDays: 5,
          schedulePolicy: { schedulePolicyType: 'SimpleSchedulePolicy', scheduleRunFrequency: 'Weekly', scheduleRunDays: ['Monday', 'Thursday'], scheduleRunTimes: ['2024-01-01T22:30:00Z'] },
          retentionPolicy: {
            retentionPolicyType: 'LongTermRetentionPolicy',
            weeklySchedule: { daysOfTheWeek: ['Thursday'], retentionTimes: ['2024-01-01T22:30:00Z'], retentionDuration: { count: 8, durationType: 'Weeks' } },
            monthlySchedule: {
              retentionScheduleFormatType: 'Daily',
              retentionScheduleDaily: { daysOfTheMonth: [{ date: 0, isLast: true }] },
              retentionTimes: ['2024-01-01T22:30:00Z'],
              retentionDuration: { count: 6, durationType: 'Months' },
            },
          },
        },
      });
      await signIn(page, server, T);
      await page.goto(`${server.url}/#/vaults/demo-rg/${vault}/policies`);
      await page.getByRole('heading', { name: T['policies.title'], level: 1 }).waitFor();
      await page.getByRole('link', { name: policy, exact: true }).click();
      await page.getByRole('heading', { name: policy, level: 1 }).waitFor();
      await page.getByRole('toolbar').getByRole('button', { name: T['policy.modify'] }).click();

      // The same editor, prefilled from the policy; its name cannot change.
      const editor = page.getByRole('dialog', { name: T['policy.modifyTitle'] });
      await editor.waitFor();
      const nameBox = editor.getByLabel(T['policy.name'], { exact: true });
      assert.equal(await nameBox.inputValue(), policy);
      assert.equal(await nameBox.getAttribute('readonly'), '');
      assert.equal(await editor.getByLabel(T['policy.frequency'], { exact: true }).inputValue(), 'Weekly');
      assert.equal(await editor.getByLabel(T['policy.time'], { exact: true }).inputValue(), '22:30');
      assert.equal(await editor.getByLabel(T['policy.timeZone'], { exact: true }).inputValue(), 'Tokyo Standard Time');
      assert.equal(await editor.getByRole('checkbox', { name: T['day.Monday'], exact: true }).isChecked(), true);
      assert.equal(await editor.getByRole('checkbox', { name: T['day.Thursday'], exact: true }).isChecked(), true);
      assert.equal(await editor.getByRole('checkbox', { name: T['day.Sunday'], exact: true }).isChecked(), false);
      const weekly = editor.getByRole('group', { name: T['policy.retWeekly'] });
      assert.equal(await weekly.getByLabel(T['policy.on'], { exact: true }).inputValue(), 'Thursday');
      assert.equal(await weekly.getByLabel(T['policy.forWeeks'], { exact: true }).inputValue(), '8');
      const monthly = editor.getByRole('group', { name: T['policy.retMonthly'] });
      assert.equal(await monthly.getByRole('radio', { name: T['policy.dayBased'] }).isChecked(), true);
      assert.equal(await monthly.getByLabel(T['policy.date'], { exact: true }).inputValue(), 'Last');
      assert.equal(await monthly.getByLabel(T['policy.forMonths'], { exact: true }).inputValue(), '6');
      await shot(page, 'e-modify-policy');

      // Keep 10 weeks instead of 8; OK saves it under its name.
      let put = null;
      page.on('request', (r) => {
        if (r.method() === 'PUT' && /\/backupPolicies\//i.test(r.url())) put = r.url();
      });
      await weekly.getByLabel(T['policy.forWeeks'], { exact: true }).fill('10');
      await editor.getByRole('button', { name: T['common.ok'], exact: true }).click();
      await editor.waitFor({ state: 'detached' });
      assert.match(put, new RegExp(`/backupPolicies/${policy}\\?`));
      await page.getByRole('heading', { name: policy, level: 1 }).waitFor();
      const saved = await (await call(server, 'GET', `${vp}/backupPolicies/${policy}?api-version=2026-08-01`)).json();
      const r = saved.properties.retentionPolicy;
      assert.equal(r.weeklySchedule.retentionDuration.count, 10);
      assert.deepEqual(r.weeklySchedule.daysOfTheWeek, ['Thursday']);
      assert.equal(r.monthlySchedule.retentionDuration.count, 6);
      assert.equal(r.monthlySchedule.retentionScheduleDaily.daysOfTheMonth[0].isLast, true);
      assert.deepEqual(saved.properties.schedulePolicy.scheduleRunDays, ['Monday', 'Thursday']);
      assert.equal(saved.properties.timeZone, 'Tokyo Standard Time');
      await expectNotification(page, T, fill(T['policy.modified'], { name: policy }), shot, 'e-policy-saved');

      await tearDown(env);
    });

    test(`(f) a damaged vault store: Verify now → the Verify job Failed, the damaged point marked, the vault's last verify [${lang}]`, { timeout: TEST_TIMEOUT }, async (t) => {
      const env = await setUp(t);
      const { server, page } = env;
      const vault = `verify-vault-${lang}`;
      const vp = `${SUB}/resourceGroups/demo-rg/providers/Microsoft.RecoveryServices/vaults/${vault}`;
      await protectOverApi(server, vault, 'db-01');
      const item = `${vp}/backupFabrics/Azure/protectionContainers/IaasVMContainer;iaasvmcontainerv2;demo-rg;db-01/protectedItems/VM;iaasvmcontainerv2;demo-rg;db-01`;
      await call(server, 'POST', `${item}/backup`, { properties: { objectType: 'IaasVMBackupRequest', recoveryPointExpiryTimeInUTC: '2090-01-01T00:00:00Z' } });
      for (;;) {
        const jobs = (await (await call(server, 'GET', `${vp}/backupJobs`)).json()).value;
        const st = jobs.find((j) => j.properties.operation === 'Backup').properties.status;
        if (st !== 'InProgress') {
          assert.equal(st, 'Completed');
          break;
        }
        await new Promise((res) => setTimeout(res, 200));
      }
      // Damage every pack of the vault's (only) store: bytes flipped near the start.
      const stores = path.join(server.dataDir, 'stores');
      const packs = fs.readdirSync(stores, { recursive: true }).map((f) => path.join(stores, String(f)))
        .filter((f) => /[\\/]packs[\\/]/.test(f) && fs.statSync(f).isFile());
      assert.ok(packs.length > 0, 'the backup wrote packs');
      for (const f of packs) {
        const b = fs.readFileSync(f);
        for (let i = 16; i < 48; i += 1) b[i] ^= 0xff;
        fs.writeFileSync(f, b);
      }

      await signIn(page, server, T);
      await page.goto(`${server.url}/#/vaults/demo-rg/${vault}`);
      await page.getByRole('heading', { name: vault, level: 1 }).waitFor();
      const section = page.getByRole('region', { name: T['verify.title'], exact: true });
      await section.getByText(T['verify.never']).waitFor();
      await section.getByText(fill(T['verify.scheduleDefault'], { schedule: fill(T['verify.weekly'], { days: T['day.Sunday'], time: '03:00' }) })).waitFor();
      await page.getByRole('toolbar').getByRole('button', { name: T['verify.now'] }).click();
      const op = T['op.Verify'];
      await expectNotification(page, T, fill(T['job.note.failed'], { op, name: vault }), shot, 'f-verify-failed-notification');

      // The vault shows its last verify: Failed, one damaged point.
      await page.getByRole('toolbar').getByRole('button', { name: T['common.refresh'] }).click();
      await section.getByRole('link', { name: T['status.Failed'] }).waitFor();
      await section.getByText(T['verify.never']).waitFor({ state: 'detached' });
      await shot(page, 'f-vault-last-verify');

      // Backup jobs: the Verify job, Failed; its details name the damaged point.
      await vaultMenu(page, T, vault).getByRole('link', { name: T['jobs.title'] }).click();
      const cell = (name) => page.getByRole('cell', { name, exact: true });
      const row = page.getByRole('row').filter({ has: cell(op) }).filter({ has: cell(vault) }).filter({ has: cell(T['status.Failed']) });
      await row.waitFor();
      await shot(page, 'f-verify-job');
      await row.getByRole('link', { name: fill(T['jobs.detailsOf'], { op, name: vault }) }).click();
      await page.getByRole('heading', { name: `${op} - ${vault}`, level: 1 }).waitFor();
      await page.getByText('UserErrorRecoveryPointDamaged').first().waitFor();
      const bagRow = (k) => page.getByRole('row').filter({ has: cell(T[k]) });
      assert.equal(await bagRow('bag.Damaged Recovery Points').getByRole('cell').nth(1).textContent(), '1');
      assert.equal(await bagRow('bag.Recovery Points Checked').getByRole('cell').nth(1).textContent(), '1');
      const named = await page.getByRole('row').filter({ has: cell(fill(T['bag.Damaged Point'], { n: 1 })) }).getByRole('cell').nth(1).textContent();
      assert.match(named, /^db-01 recovery point \d+ /);
      await page.getByRole('cell', { name: T['task.Verify recovery points'], exact: true }).waitFor();
      await shot(page, 'f-verify-job-details');

      // The item: its health asks for action, the point is marked damaged.
      await vaultMenu(page, T, vault).getByRole('link', { name: T['items.title'] }).click();
      await page.getByRole('link', { name: 'db-01', exact: true }).click();
      await page.getByRole('heading', { name: 'db-01', level: 1 }).waitFor();
      await page.getByRole('alert').filter({ hasText: lang === 'en' ? 'Damaged recovery points' : T['err.UserErrorRecoveryPointDamaged'] }).waitFor();
      await page.getByText(fill(T['rp.damagedNote'], { n: 1 })).waitFor();
      const rpRow = page.locator('tr.damaged');
      assert.equal(await rpRow.count(), 1);
      assert.match(await rpRow.innerText(), new RegExp(T['rp.verify.Damaged']));
      assert.match(await rpRow.getAttribute('data-rp'), /^\d+$/);
      await page.getByText(T['health.ActionRequired'], { exact: true }).waitFor();
      await shot(page, 'f-damaged-point');

      await tearDown(env);
    });
  });
}

test('the policy editor\'s model: bodies the server accepts, its rules, next scheduled backups', { timeout: TEST_TIMEOUT }, async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const browser = await openBrowser('en-US');
  t.after(() => browser.close());
  const { page } = browser;
  await page.goto(`${server.url}/portal/index.html`);
  const vp = '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/demo-rg/providers/Microsoft.RecoveryServices/vaults/model-vault';
  const r = await fetch(`${server.url}${vp}`, { method: 'PUT', headers: { Authorization: `Bearer ${server.token}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ location: 'japaneast' }) });
  assert.equal(r.status, 201);
  const out = await page.evaluate(async ({ vp, token }) => {
    const m = await import('/portal/policy.js');
    const forms = {};
    const base = () => m.newPolicyForm();
    forms.daily = { ...base(), name: 'model-daily', timeZone: 'Tokyo Standard Time' };
    forms.weekly = { ...base(), name: 'model-weekly', frequency: 'Weekly', days: ['Monday', 'Thursday'], weekly: { on: true, day: 'Thursday', count: 4 } };
    forms.hourly = { ...base(), name: 'model-hourly', frequency: 'Hourly', interval: 4, windowStart: '08:00', windowDuration: 12, instantDays: 7 };
    forms.longTerm = {
      ...base(),
      name: 'model-long',
      weekly: { on: true, day: 'Sunday', count: 12 },
      monthly: { on: true, format: 'Daily', date: 'Last', week: 'First', day: 'Sunday', count: 24 },
      yearly: { on: true, month: 'March', format: 'Weekly', week: 'Second', day: 'Friday', date: '1', count: 5 },
    };
    const results = {};
    for (const [k, f] of Object.entries(forms)) {
      const errors = m.validatePolicy(f, []);
      const resp = await fetch(`${vp}/backupPolicies/${f.name}`, {
        method: 'PUT', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body: JSON.stringify(m.policyBody(f)),
      });
      results[k] = { errors, status: resp.status, body: await resp.json() };
    }
    const bad = { ...base(), name: 'x', daily: { on: true, count: 3 }, instantDays: 9 };
    const badHourly = { ...base(), name: 'ok-name', frequency: 'Hourly', interval: 8, windowDuration: 12 };
    const now = new Date('2026-01-01T00:00:00Z');
    return {
      results,
      badErrors: Object.keys(m.validatePolicy(bad, [])).sort(),
      hourlyErrors: Object.keys(m.validatePolicy(badHourly, [])),
      dupErrors: Object.keys(m.validatePolicy({ ...base(), name: 'DefaultPolicy' }, ['defaultpolicy'])),
      fieldOf: [
        m.fieldOfServerError('properties.retentionPolicy.dailySchedule.retentionDuration.count: 6 is out of range'),
        m.fieldOfServerError('properties.timeZone: \'X\' is not a known Windows time zone id'),
        m.fieldOfServerError('properties.schedulePolicy.hourlySchedule.scheduleWindowDuration: must be'),
        m.fieldOfServerError('The policy name \'x1\' is invalid'),
      ],
      nextDaily: m.nextRun(results.daily.body, now).toISOString(),
      nextWeekly: m.nextRun(results.weekly.body, now).toISOString(),
      nextHourly: m.nextRun(results.hourly.body, new Date('2026-01-01T13:00:00Z')).toISOString(),
    };
  }, { vp, token: server.token });
  for (const [k, v] of Object.entries(out.results)) {
    assert.deepEqual(v.errors, {}, `${k}: the editor finds nothing wrong`);
    assert.equal(v.status, 200, `${k}: the server accepts the body: ${JSON.stringify(v.body)}`);
  }
  assert.equal(out.results.hourly.body.properties.policyType, 'V2');
  assert.equal(out.results.longTerm.body.properties.retentionPolicy.yearlySchedule.monthsOfYear[0], 'March');
  assert.deepEqual(out.badErrors, ['dailyCount', 'instantDays', 'name']);
  assert.deepEqual(out.hourlyErrors, ['windowDuration'], '12 hours is no multiple of 8');
  assert.deepEqual(out.dupErrors, ['name']);
  assert.deepEqual(out.fieldOf, ['dailyCount', 'timeZone', 'windowDuration', 'name']);
  assert.equal(out.nextDaily, '2026-01-01T12:00:00.000Z', '21:00 in Tokyo');
  assert.equal(out.nextWeekly, '2026-01-01T21:00:00.000Z', 'Thursday 21:00 UTC');
  assert.equal(out.nextHourly, '2026-01-01T16:00:00.000Z', '08:00, 12:00, 16:00 UTC');
  assert.deepEqual(browser.errors, []);
});
