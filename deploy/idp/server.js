// nuanliu's development OpenID provider: the certified `oidc-provider` package with the demo
// staff of users.json as its users (password login), authorization code + PKCE, and one client,
// the console. Development and tests only: production points at the organization's own provider.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Provider from 'oidc-provider';

const here = dirname(fileURLToPath(import.meta.url));
const port = Number(process.env.NUANLIU_IDP_PORT || 5009);
const host = process.env.NUANLIU_IDP_HOST || '127.0.0.1';
const issuer = process.env.NUANLIU_IDP_ISSUER || `http://127.0.0.1:${port}`;
const redirectUris = (process.env.NUANLIU_IDP_REDIRECT_URIS || 'http://127.0.0.1:5000/auth/callback')
  .split(',').map((uri) => uri.trim()).filter(Boolean);
const users = JSON.parse(readFileSync(join(here, 'users.json'), 'utf8')).users;
const bySub = new Map(users.map((user) => [user.sub, user]));

const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const configuration = {
  clients: [{
    client_id: process.env.NUANLIU_IDP_CLIENT_ID || 'nuanliu-console',
    client_secret: process.env.NUANLIU_IDP_CLIENT_SECRET || 'dev-console-oidc-secret',
    redirect_uris: redirectUris,
    post_logout_redirect_uris: redirectUris.map((uri) => new URL('/', uri).href),
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  pkce: { required: () => true },
  claims: { openid: ['sub'], profile: ['name'] },
  cookies: { keys: [process.env.NUANLIU_IDP_COOKIE_KEY || 'nuanliu-dev-idp-cookie-key'] },
  features: { devInteractions: { enabled: false }, rpInitiatedLogout: { enabled: true } },
  ttl: { IdToken: 3600, AccessToken: 3600, Session: 12 * 3600, Interaction: 600, Grant: 12 * 3600 },
  async findAccount(ctx, id) {
    const user = bySub.get(id);
    if (!user) return undefined;
    return { accountId: id, async claims() { return { sub: id, name: user.name }; } };
  },
  // The console is the organization's own application: no consent screen, the grant is implied.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid profile');
    await grant.save();
    return grant;
  },
};

const provider = new Provider(issuer, configuration);
const callback = provider.callback();

function loginPage(uid, message = '') {
  return `<!doctype html><html lang="zh"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>暖流 统一身份认证 (开发)</title></head>
<body style="font-family:sans-serif;max-width:24rem;margin:2rem auto">
<h1>统一身份认证</h1><p>开发环境 / development provider</p>
${message ? `<p role="alert" style="color:#b00">${escape(message)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login">
<label>用户名 / user <input name="login" autocomplete="username" required autofocus></label><br>
<label>密码 / password <input name="password" type="password" autocomplete="current-password" required></label><br>
<button type="submit">登录 / Sign in</button></form></body></html>`;
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 10000) throw new Error('form too large');
  }
  return new URLSearchParams(body);
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new Error('interaction mismatch');
  if (action === 'login' && req.method === 'POST') {
    const form = await readForm(req);
    const user = bySub.get(form.get('login') || '');
    if (!user || user.password !== form.get('password')) {
      res.writeHead(401, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(loginPage(uid, '用户名或密码错误 / wrong user or password'));
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId: user.sub } }, { mergeWithLastSubmission: false });
    return;
  }
  if (details.prompt.name === 'login') {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(loginPage(uid));
    return;
  }
  // Consent is implied (loadExistingGrant); finish any other prompt at once.
  await provider.interactionFinished(req, res, {}, { mergeWithLastSubmission: true });
}

const server = http.createServer(async (req, res) => {
  const match = /^\/interaction\/([^/?]+)(?:\/(login))?/.exec(req.url || '');
  if (!match) return callback(req, res);
  try {
    await interaction(req, res, match[1], match[2]);
  } catch (error) {
    res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end(`sign-in interaction failed: ${error.message}`);
  }
});

server.listen(port, host, () => {
  console.log(`[idp] development OpenID provider at ${issuer} (${users.length} demo users)`);
});
