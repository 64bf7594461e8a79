// Sign-in: a user's name and password, or a service principal's
// application (client) ID and secret,
// exchanged at the server's token endpoint for an access token (kept in
// sessionStorage, never in a URL). The subscription to work in is picked
// from those the caller can see (the last one used, else the first); the
// header's picker changes it.

import { h, field } from '../dom.js';
import { t } from '../i18n.js';
import { session, logIn, listSubscriptions, pickSubscription } from '../api.js';
import { show, setTitle } from '../layout.js';
import { navigate } from '../router.js';

export function signInView(params, query, ctx) {
  setTitle(t('signin.title'));
  const appId = h('input', { type: 'text', autocomplete: 'username', spellcheck: 'false', class: 'wide' });
  const secret = h('input', { type: 'password', autocomplete: 'current-password', spellcheck: 'false', class: 'wide' });
  const appIdField = field({ label: t('signin.appId'), control: appId, required: true, hint: t('signin.appIdHint') });
  const secretField = field({ label: t('signin.secret'), control: secret, required: true, hint: t('signin.secretHint') });
  const button = h('button', { type: 'submit', class: 'primary' }, t('signin.submit'));
  const form = h('form', { class: 'signin-form', novalidate: true },
    query.get('expired') ? h('p', { class: 'error-box', role: 'alert' }, t('signin.expired')) : null,
    appIdField, secretField,
    h('details', { class: 'help' },
      h('summary', null, t('signin.where')),
      h('p', null, t('signin.whereText')),
      h('pre', null, h('code', null, 'cat <data-dir>/identity/owner.json')),
      h('p', null, t('signin.whereDefault')),
      h('pre', null, h('code', null, 'rsvault ad --data-dir <data-dir> sp create-for-rbac --name portal-operator \\\n  --role "Backup Operator" --scopes /subscriptions/<subscription>'))),
    h('div', { class: 'form-actions' }, button));

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    for (const f of [appIdField, secretField]) f.setError('');
    const id = appId.value.trim();
    const pw = secret.value;
    let bad = false;
    if (!id) {
      appIdField.setError(t('signin.err.appId'));
      bad = true;
    }
    if (!pw) {
      secretField.setError(t('signin.err.secret'));
      bad = true;
    }
    if (bad) {
      form.querySelector('[aria-invalid="true"]').focus();
      return;
    }
    button.disabled = true;
    let token;
    try {
      token = await logIn(id, pw);
    } catch (err) {
      button.disabled = false;
      secret.value = '';
      secretField.setError(err.status === 401 || err.oauth === 'invalid_grant' ? t('signin.err.rejected')
        : err.status === 429 ? t('signin.err.tooMany') : err.message);
      secret.focus();
      return;
    }
    const remembered = sessionStorage.getItem('rsvault.subscription');
    session.signIn(token, remembered);
    let subs = [];
    try {
      subs = await listSubscriptions();
    } catch (err) {
      // A principal without a role anywhere still signs in; the pages say what it may not do.
      if (err.status === 401) {
        session.signOut();
        button.disabled = false;
        secretField.setError(t('signin.err.rejected'));
        return;
      }
    }
    session.subscriptions = subs;
    session.use(pickSubscription(subs, remembered));
    const next = query.get('next');
    navigate(next && next.startsWith('#/') && !next.startsWith('#/signin') ? next : '#/vaults');
  });

  show(ctx, h('div', { class: 'page signin' },
    h('div', { class: 'card signin-card' },
      h('h1', { tabindex: '-1' }, t('signin.title')),
      h('p', null, t('signin.intro')),
      form)));
  appId.focus();
}
