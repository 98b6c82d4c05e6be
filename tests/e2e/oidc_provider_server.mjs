// panva oidc-provider (OpenID Certified) configured as a strict peer for the e2e tests.
//
// Usage: node oidc_provider_server.mjs
// Listens on 127.0.0.1 on a port the OS picks, then prints one JSON line on stdout:
//   {"issuer": "http://127.0.0.1:<port>", "port": <port>}
// Exits when its standard input closes (the test process went away).
//
// Clients are registered per test through the standard dynamic registration endpoint (/reg),
// because each test app listens on its own port and redirect URIs are exact strings.
//
// Test-only control routes (never part of a real provider), under /__test/:
//   POST /__test/access-token-ttl  {"client_id", "seconds"}   AccessToken lifetime for a client
//   POST /__test/destroy-access-tokens {"client_id"}  deletes the client's access tokens without
//                                                      revoking the grant ("expired early")
//   GET  /__test/stats?client_id=...  token endpoint outcomes per grant type for a client
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const DEFAULT_ACCESS_TOKEN_TTL = 600;

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' };

const accessTokenTtl = new Map(); // client_id -> seconds
const accessTokens = new Map(); // client_id -> Set of access token jti
const stats = new Map(); // client_id -> {"<grant_type>": {success, error}}

function count(clientId, grantType, outcome) {
  if (!clientId || !grantType) return;
  if (!stats.has(clientId)) stats.set(clientId, {});
  const perClient = stats.get(clientId);
  perClient[grantType] ??= { success: 0, error: 0 };
  perClient[grantType][outcome] += 1;
}

function title(name) {
  return `${name.charAt(0).toUpperCase()}${name.slice(1)} Example`;
}

const server = createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(0, '127.0.0.1', resolve);
});
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  pkce: { required: () => true },
  clockTolerance: 0,
  issueRefreshToken: async () => true,
  rotateRefreshToken: () => true,
  ttl: {
    AccessToken: (ctx, token, client) => accessTokenTtl.get(client.clientId) ?? DEFAULT_ACCESS_TOKEN_TTL,
    AuthorizationCode: 60,
    Grant: 3600,
    IdToken: 3600,
    Interaction: 600,
    RefreshToken: 3600,
    Session: 3600,
  },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
  },
  features: {
    devInteractions: { enabled: true },
    registration: { enabled: true },
    revocation: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    userinfo: { enabled: true },
  },
  async findAccount(ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        return {
          sub,
          name: title(sub),
          preferred_username: sub,
          email: `${sub}@example.com`,
          email_verified: true,
        };
      },
    };
  },
});

provider.on('access_token.saved', (token) => {
  if (!accessTokens.has(token.clientId)) accessTokens.set(token.clientId, new Set());
  accessTokens.get(token.clientId).add(token.jti);
});
provider.on('grant.success', (ctx) => count(ctx.oidc.client?.clientId, ctx.oidc.params?.grant_type, 'success'));
provider.on('grant.error', (ctx) => count(ctx.oidc.client?.clientId, ctx.oidc.params?.grant_type, 'error'));

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
}

provider.use(async (ctx, next) => {
  if (!ctx.path.startsWith('/__test/')) {
    await next();
    return;
  }
  if (ctx.method === 'POST' && ctx.path === '/__test/access-token-ttl') {
    const body = await readJson(ctx.req);
    accessTokenTtl.set(body.client_id, body.seconds);
    ctx.body = { ok: true };
  } else if (ctx.method === 'POST' && ctx.path === '/__test/destroy-access-tokens') {
    const body = await readJson(ctx.req);
    let destroyed = 0;
    for (const jti of accessTokens.get(body.client_id) ?? []) {
      const token = await provider.AccessToken.find(jti);
      if (token) {
        await token.destroy();
        destroyed += 1;
      }
    }
    accessTokens.delete(body.client_id);
    ctx.body = { destroyed };
  } else if (ctx.method === 'GET' && ctx.path === '/__test/stats') {
    ctx.body = stats.get(ctx.query.client_id) ?? {};
  } else {
    ctx.status = 404;
    ctx.body = { error: 'no such control route' };
  }
});

server.on('request', provider.callback());
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
process.stdout.write(`${JSON.stringify({ issuer, port })}\n`);
