// The reference for `make bench`: panva's OpenID-certified oidc-provider (pinned in package.json),
// configured like our IdP: code flow only, PKCE S256 required, RS256 and ES256 ID tokens, refresh
// tokens issued and rotated, confidential clients (client_secret_basic), one account.
//
// There is no UI: /interaction/:uid answers a bare form, and POST /interaction/:uid/login signs the
// account in and grants the requested scopes (the documented interactionFinished API), so the
// bench driver can run cold flows and, with the session cookie it keeps, signed-in code flows.
// The password is compared in constant time, not hashed: the bench reports our argon2id cost apart.
//
// Configuration arrives in the environment (set by bench/run.py): PORT, BENCH_CLIENTS (JSON),
// BENCH_ACCOUNT (JSON), BENCH_RSA_BITS, and BENCH_REFERENCE_REDIS_URL to keep codes, tokens,
// sessions and grants in Redis (redis_adapter.mjs) instead of the default in-memory adapter.
// Listens on 127.0.0.1 only.
import { createServer } from 'node:http';
import { generateKeyPairSync, randomBytes, timingSafeEqual, createHash } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const account = JSON.parse(process.env.BENCH_ACCOUNT);
const clients = JSON.parse(process.env.BENCH_CLIENTS);
const rsaBits = Number(process.env.BENCH_RSA_BITS || 2048);

function privateJwk(type, options, alg, kid) {
  const jwk = generateKeyPairSync(type, options).privateKey.export({ format: 'jwk' });
  return { ...jwk, alg, kid, use: 'sig' };
}

const configuration = {
  clients: clients.map((c) => ({
    client_id: c.client_id,
    client_secret: c.client_secret,
    redirect_uris: c.redirect_uris,
    id_token_signed_response_alg: c.id_token_alg,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  })),
  jwks: {
    keys: [
      privateJwk('rsa', { modulusLength: rsaBits }, 'RS256', 'rs256'),
      privateJwk('ec', { namedCurve: 'P-256' }, 'ES256', 'es256'),
    ],
  },
  async findAccount(_ctx, id) {
    if (id !== account.sub) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...account.claims }; } };
  },
  claims: {
    openid: ['sub'],
    profile: ['name', 'given_name', 'family_name', 'birthdate', 'gender', 'locale'],
    email: ['email', 'email_verified'],
  },
  scopes: ['openid', 'profile', 'email'],
  responseTypes: ['code'],
  pkce: { required: () => true },
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: true,
  features: { devInteractions: { enabled: false } },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  enabledJWA: { idTokenSigningAlgValues: ['RS256', 'ES256'] },
  ttl: {
    AuthorizationCode: 60, AccessToken: 300, IdToken: 600, RefreshToken: 12 * 3600,
    Grant: 12 * 3600, Session: 12 * 3600, Interaction: 900,
  },
};

if (process.env.BENCH_REFERENCE_REDIS_URL) {
  configuration.adapter = (await import('./redis_adapter.mjs')).default;
}

const provider = new Provider(issuer, configuration);
const handle = provider.callback();

function same(a, b) {
  const x = createHash('sha256').update(String(a)).digest();
  const y = createHash('sha256').update(String(b)).digest();
  return timingSafeEqual(x, y);
}

function readForm(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => { body += chunk; if (body.length > 65536) req.destroy(); });
    req.on('end', () => resolve(new URLSearchParams(body)));
    req.on('error', reject);
  });
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new Error('interaction mismatch');
  if (req.method === 'GET' && !action) {
    res.setHeader('Content-Type', 'text/html; charset=utf-8');
    res.end(`<form method="post" action="/interaction/${uid}/login">`
      + '<input name="username"><input name="password" type="password"><button>Sign in</button></form>');
    return;
  }
  if (req.method !== 'POST' || action !== 'login') { res.statusCode = 404; res.end(); return; }
  const form = await readForm(req);
  if (!same(form.get('username'), account.username) || !same(form.get('password'), account.password)) {
    res.statusCode = 401; res.end('wrong username or password'); return;
  }
  const { params } = details;
  const grant = new provider.Grant({ accountId: account.sub, clientId: params.client_id });
  grant.addOIDCScope(params.scope);
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, {
    login: { accountId: account.sub }, consent: { grantId },
  }, { mergeWithLastSubmission: false });
}

const server = createServer((req, res) => {
  const match = /^\/interaction\/([\w-]+)(?:\/(\w+))?$/.exec(req.url.split('?')[0]);
  if (!match) return handle(req, res);
  interaction(req, res, match[1], match[2]).catch((err) => {
    res.statusCode = 400;
    res.end(String(err && err.message));
  });
  return undefined;
});
server.keepAliveTimeout = 60000;
server.listen(port, '127.0.0.1', () => process.stdout.write(`listening ${issuer}\n`));
