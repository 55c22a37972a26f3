// A loopback OAuth 2.0 authorization server for the SMTP client's OAuth2
// interop tests: oidc-provider (a certified OpenID Connect server) with the
// clients, grants and switches the tests need. See README.md.
//
//   node provider.mjs DIR HTTPS_PORT HTTP_PORT TTL_SECONDS
//
// DIR must already hold what scripts/oauth2-instance.sh generates with
// openssl: server.pem, server-key.pem (certificate for 127.0.0.1/localhost),
// refresh-client-secret, app-client-secret, introspect-client-secret,
// app-jwt-pub.pem + app-jwt-kid, service-account-key.pem +
// service-account-pub.pem + service-account-kid. The provider writes
// service-account.json, refresh-token, refresh-tokens and, once both
// listeners answer, the file `ready`.

import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import * as querystring from 'node:querystring';

import * as jose from 'jose';
import Provider, { errors } from 'oidc-provider';

const [dir, httpsPortArg, httpPortArg, ttlArg] = process.argv.slice(2);
if (!dir || !httpsPortArg || !httpPortArg || !ttlArg) {
  console.error('usage: node provider.mjs DIR HTTPS_PORT HTTP_PORT TTL_SECONDS');
  process.exit(2);
}
const httpsPort = Number(httpsPortArg);
const httpPort = Number(httpPortArg);
const ttl = Number(ttlArg);
if (!Number.isInteger(ttl) || ttl <= 0) {
  console.error(`provider: TTL_SECONDS must be a positive integer, not ${ttlArg}`);
  process.exit(2);
}

const file = (name) => path.join(dir, name);
const readText = (name) => {
  try {
    return readFileSync(file(name), 'utf8').trim();
  } catch (err) {
    console.error(`provider: cannot read ${file(name)}: ${err.message}`);
    process.exit(2);
  }
};

const ISSUER = `https://127.0.0.1:${httpsPort}`;
const TOKEN_URL = `${ISSUER}/token`;
const USER = 'alice';
const MAIL_SCOPE = 'mail';
const REFRESH_SCOPE = 'openid offline_access mail';
const REFRESH_TOKEN_COUNT = 8;
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const SERVICE_ACCOUNT_EMAIL = 'sender@example.iam.invalid';
const SERVICE_ACCOUNT_CLIENT = 'smtp-service-account';
const REFUSE_ALL = file('refuse-all');
const LOGS = {
  '/token': file('token-requests.log'),
  '/token/introspection': file('introspection-requests.log'),
  '/token/revocation': file('revocation-requests.log'),
};

// Keys and secrets the start script made with openssl.
const appJwtKid = readText('app-jwt-kid');
const appJwtJwk = {
  ...(await jose.exportJWK(await jose.importSPKI(readText('app-jwt-pub.pem'), 'RS256'))),
  kid: appJwtKid,
  alg: 'RS256',
  use: 'sig',
};
const serviceAccountKid = readText('service-account-kid');
const serviceAccountPublicKey = await jose.importSPKI(readText('service-account-pub.pem'), 'RS256');
const serviceAccountPrivateKey = readText('service-account-key.pem');

// The provider's own signing key (ID tokens on refresh with `openid`).
const { privateKey: signingKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingJwk = { ...signingKey.export({ format: 'jwk' }), kid: 'provider-rs256', alg: 'RS256', use: 'sig' };

const tokenHash = (value) => createHash('sha256').update(String(value)).digest('hex').slice(0, 16);

const configuration = {
  clients: [
    {
      // A user's mail client: refresh tokens (issued at startup below).
      // Registered for client_secret_basic; oidc-provider also accepts the
      // same secret as client_secret_post.
      client_id: 'smtp-refresh',
      client_secret: readText('refresh-client-secret'),
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['refresh_token', 'authorization_code'],
      response_types: ['code'],
      redirect_uris: ['https://127.0.0.1/callback'],
      scope: REFRESH_SCOPE,
    },
    {
      // A daemon: client credentials with a secret.
      client_id: 'smtp-app',
      client_secret: readText('app-client-secret'),
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope: MAIL_SCOPE,
    },
    {
      // A daemon: client credentials with an RS256 client assertion
      // (RFC 7523 section 2.2).
      client_id: 'smtp-app-jwt',
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'RS256',
      jwks: { keys: [appJwtJwk] },
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope: MAIL_SCOPE,
    },
    {
      // The Google-style service account's grant (RFC 7523 section 2.1)
      // needs no client authentication; requests without any are
      // attributed to this client (see attributeServiceAccountRequests).
      client_id: SERVICE_ACCOUNT_CLIENT,
      token_endpoint_auth_method: 'none',
      grant_types: [JWT_BEARER],
      response_types: [],
      redirect_uris: [],
      scope: MAIL_SCOPE,
    },
    {
      // Dovecot's passdb introspects with these (client_secret_post: Dovecot
      // sends token, client_id and client_secret in the POST body).
      client_id: 'dovecot',
      client_secret: readText('introspect-client-secret'),
      token_endpoint_auth_method: 'client_secret_post',
      grant_types: [],
      response_types: [],
      redirect_uris: [],
    },
  ],
  jwks: { keys: [signingJwk] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  scopes: ['openid', 'offline_access', MAIL_SCOPE],
  claims: { openid: ['sub'] },
  async findAccount(_ctx, sub) {
    return { accountId: sub, async claims() { return { sub }; } };
  },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: {
      enabled: true,
      // The introspecting client (Dovecot) sees every client's tokens.
      // While DIR/refuse-all exists, every token is reported inactive.
      async allowedPolicy(_ctx, _client, _token) {
        return !existsSync(REFUSE_ALL);
      },
    },
    revocation: {
      enabled: true,
      // RFC 7009: a client revokes its own tokens.
      async allowedPolicy(_ctx, client, token) {
        if (token.clientId !== client.clientId) {
          throw new errors.InvalidRequest('client is not authorized to revoke the presented token');
        }
        return true;
      },
    },
  },
  // The claim Dovecot's passdb takes the user name from
  // (username_attribute = username); introspection returns it.
  async extraTokenClaims(_ctx, token) {
    return { username: token.accountId ?? USER };
  },
  rotateRefreshToken: false,
  ttl: {
    AccessToken: ttl,
    ClientCredentials: ttl,
    IdToken: 3600,
    RefreshToken: 30 * 24 * 3600,
    Grant: 30 * 24 * 3600,
    Session: 30 * 24 * 3600,
    Interaction: 3600,
    AuthorizationCode: 60,
  },
};

const provider = new Provider(ISSUER, configuration);

// Logs one JSON line per request to the token, introspection and revocation
// endpoints, written before the response goes out. Also gives Google-style
// jwt-bearer requests (grant_type and assertion only, no client
// authentication) the service account's client_id, which oidc-provider needs
// to pick a client.
function claimedClientId(ctx, form) {
  const authorization = ctx.get('authorization');
  if (authorization && /^basic /i.test(authorization)) {
    const basic = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8');
    const colon = basic.indexOf(':');
    if (colon !== -1) {
      try {
        return decodeURIComponent(basic.slice(0, colon).replace(/\+/g, '%20'));
      } catch {
        return basic.slice(0, colon);
      }
    }
  }
  if (typeof form.client_id === 'string') return form.client_id;
  if (typeof form.client_assertion === 'string') {
    try {
      return jose.decodeJwt(form.client_assertion).sub;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 56 * 1024) throw new errors.InvalidRequest('request entity too large');
    chunks.push(chunk);
  }
  return querystring.parse(Buffer.concat(chunks).toString('utf8'));
}

provider.use(async (ctx, next) => {
  const log = LOGS[ctx.path];
  if (!log || ctx.method !== 'POST') {
    await next();
    return;
  }
  let form = {};
  if (ctx.is('application/x-www-form-urlencoded')) {
    form = await readForm(ctx.req);
    if (
      ctx.path === '/token'
      && form.grant_type === JWT_BEARER
      && form.client_id === undefined
      && form.client_assertion === undefined
      && form.client_secret === undefined
      && !ctx.get('authorization')
    ) {
      form.client_id = SERVICE_ACCOUNT_CLIENT;
    }
    // oidc-provider takes an already parsed body from here.
    ctx.request.body = form;
  }
  await next();

  const body = ctx.body && typeof ctx.body === 'object' ? ctx.body : {};
  const line = {
    time: new Date().toISOString(),
    endpoint: ctx.path,
    client_id: ctx.oidc?.client?.clientId ?? claimedClientId(ctx, form) ?? null,
    status: ctx.status,
  };
  if (ctx.path === '/token') {
    line.grant_type = typeof form.grant_type === 'string' ? form.grant_type : null;
  }
  if (ctx.status >= 400) {
    line.outcome = 'error';
    line.error = body.error;
    line.error_description = body.error_description;
    // What oidc-provider keeps out of the response (error_description is
    // generic for invalid_grant and invalid_client).
    line.error_detail = ctx.state.errorDetail;
  } else if (ctx.path === '/token') {
    line.outcome = 'success';
    line.expires_in = body.expires_in;
    const issued = await provider.AccessToken.find(body.access_token)
      ?? await provider.ClientCredentials.find(body.access_token);
    line.exp = issued?.exp;
    line.expires_at = issued?.exp ? new Date(issued.exp * 1000).toISOString() : undefined;
    line.scope = body.scope;
    line.access_token_sha256 = tokenHash(body.access_token);
  } else if (ctx.path === '/token/introspection') {
    line.outcome = body.active ? 'active' : 'inactive';
    line.username = body.username;
    line.token_client_id = body.client_id;
    line.exp = body.exp;
    line.refuse_all = existsSync(REFUSE_ALL);
  } else {
    line.outcome = 'revoked';
  }
  if (typeof form.token === 'string') line.token_sha256 = tokenHash(form.token);
  appendFileSync(log, `${JSON.stringify(line)}\n`);
});

// RFC 7523 section 2.1: a JWT (RS256, signed with the service account's
// key) as the authorization grant, as Google's service accounts use it.
provider.registerGrantType(JWT_BEARER, async (ctx) => {
  const { assertion } = ctx.oidc.params;
  if (!assertion) {
    throw new errors.InvalidRequest("missing required parameter 'assertion'");
  }
  let payload;
  let protectedHeader;
  try {
    ({ payload, protectedHeader } = await jose.jwtVerify(assertion, serviceAccountPublicKey, {
      algorithms: ['RS256'],
      issuer: SERVICE_ACCOUNT_EMAIL,
      audience: TOKEN_URL,
      requiredClaims: ['iss', 'aud', 'iat', 'exp', 'scope'],
    }));
  } catch (err) {
    throw new errors.InvalidGrant(`invalid assertion: ${err.message}`);
  }
  if (protectedHeader.kid !== undefined && protectedHeader.kid !== serviceAccountKid) {
    throw new errors.InvalidGrant('invalid assertion: unknown kid');
  }
  if (payload.exp - payload.iat > 3600) {
    throw new errors.InvalidGrant('invalid assertion: exp is more than one hour after iat');
  }
  if (payload.iat > Math.floor(Date.now() / 1000) + 60) {
    throw new errors.InvalidGrant('invalid assertion: iat is in the future');
  }
  const requested = String(payload.scope).split(' ').filter(Boolean);
  const allowed = new Set(ctx.oidc.client.scope?.split(' ') ?? []);
  if (requested.length === 0 || requested.some((scope) => !allowed.has(scope))) {
    throw new errors.InvalidScope('requested scope is not allowed', requested.filter((s) => !allowed.has(s)).join(' '));
  }
  const accountId = typeof payload.sub === 'string' && payload.sub ? payload.sub : USER;
  const token = new ctx.oidc.provider.AccessToken({
    accountId,
    client: ctx.oidc.client,
    gty: JWT_BEARER,
    scope: requested.join(' '),
  });
  ctx.oidc.entity('AccessToken', token);
  const value = await token.save();
  ctx.body = {
    access_token: value,
    expires_in: token.expiration,
    token_type: token.tokenType,
    scope: token.scope,
  };
}, ['assertion']);

for (const event of ['grant.error', 'introspection.error', 'revocation.error', 'server_error']) {
  provider.on(event, (ctx, err) => {
    ctx.state.errorDetail = err.error_detail ?? err.message;
    if (event === 'server_error') console.error('provider: server_error', err);
  });
}

function writeAtomically(name, text, mode = 0o644) {
  writeFileSync(`${file(name)}.tmp`, text, { mode });
  renameSync(`${file(name)}.tmp`, file(name));
}

// Genuine refresh tokens for alice, each in its own grant: revoking an
// access token (or a refresh token) revokes its whole grant (RFC 7009
// allows it, Google does it), so a test that revokes takes its own.
async function issueRefreshTokens() {
  const client = await provider.Client.find('smtp-refresh');
  const tokens = [];
  for (let i = 0; i < REFRESH_TOKEN_COUNT; i += 1) {
    const grant = new provider.Grant({ accountId: USER, clientId: client.clientId });
    grant.addOIDCScope(REFRESH_SCOPE);
    const grantId = await grant.save();
    const refreshToken = new provider.RefreshToken({
      accountId: USER,
      client,
      grantId,
      gty: 'authorization_code',
      scope: REFRESH_SCOPE,
      authTime: Math.floor(Date.now() / 1000),
      expiresWithSession: false,
    });
    tokens.push(await refreshToken.save());
  }
  writeAtomically('refresh-tokens', `${tokens.join('\n')}\n`, 0o600);
  writeAtomically('refresh-token', `${tokens[0]}\n`, 0o600);
}

function writeServiceAccountFile() {
  const json = {
    type: 'service_account',
    project_id: 'smtp-interop',
    private_key_id: serviceAccountKid,
    private_key: serviceAccountPrivateKey.endsWith('\n') ? serviceAccountPrivateKey : `${serviceAccountPrivateKey}\n`,
    client_email: SERVICE_ACCOUNT_EMAIL,
    client_id: SERVICE_ACCOUNT_CLIENT,
    auth_uri: `${ISSUER}/auth`,
    token_uri: TOKEN_URL,
  };
  writeAtomically('service-account.json', `${JSON.stringify(json, null, 2)}\n`, 0o600);
}

function listen(server, port, label) {
  return new Promise((resolve, reject) => {
    server.once('error', (err) => reject(new Error(`${label} listener on 127.0.0.1:${port}: ${err.message}`)));
    server.listen(port, '127.0.0.1', resolve);
  });
}

const callback = provider.callback();
const httpsServer = https.createServer(
  { cert: readText('server.pem'), key: readText('server-key.pem') },
  callback,
);
const httpServer = http.createServer(callback);

try {
  await issueRefreshTokens();
  writeServiceAccountFile();
  await listen(httpsServer, httpsPort, 'HTTPS');
  await listen(httpServer, httpPort, 'HTTP');
} catch (err) {
  console.error(`provider: ${err.message}`);
  process.exit(1);
}
writeAtomically('ready', `${process.pid}\n`);
console.log(`provider: issuer ${ISSUER}, plain HTTP on 127.0.0.1:${httpPort}, access tokens live ${ttl} s`);

const stop = () => {
  httpsServer.close();
  httpServer.close();
  httpsServer.closeAllConnections?.();
  httpServer.closeAllConnections?.();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
