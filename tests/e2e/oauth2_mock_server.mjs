// axa-group oauth2-mock-server with a control endpoint that injects per-test behaviour.
//
// Usage: node oauth2_mock_server.mjs
// Listens on 127.0.0.1 on a port the OS picks, then prints one JSON line on stdout:
//   {"issuer": "http://127.0.0.1:<port>", "port": <port>}
// Exits when its standard input closes (the test process went away).
//
// Control routes (test-only), on the same port:
//   PUT /__control/behaviour  a JSON object, replacing the previous one ({} = stock behaviour):
//     authorize: {set: {param: value}, delete: [param]}   the redirect back to the client
//     idToken:   {claims: {...}, drop: [claim], times: {exp|iat|nbf: seconds from now}}
//     token:     {status, body (replaces the JSON answer), merge: {...}, drop: [member]}
//     tokenRaw:  {status, contentType, body}   answered verbatim (HTML, text), no hooks involved
//     tokenDelayMs: n                          the token endpoint answers n ms late
//     userinfo:  {status, body}
//   GET /__control/stats   requests seen since the last PUT: {paths: {...}, tokenRequests: [...]}
// The server's event hooks (beforeAuthorizeRedirect, beforeTokenSigning, beforeResponse,
// beforeUserinfo) apply the behaviour; tokenRaw and tokenDelayMs act before the mock sees the request.
import { createServer } from 'node:http';

import { OAuth2Server } from 'oauth2-mock-server';

let behaviour = {};
let stats = { paths: {}, tokenRequests: [] };

const mock = new OAuth2Server();
await mock.issuer.keys.generate('RS256');
const service = mock.service;

service.on('beforeAuthorizeRedirect', ({ url }) => {
  for (const [name, value] of Object.entries(behaviour.authorize?.set ?? {})) {
    url.searchParams.set(name, value);
  }
  for (const name of behaviour.authorize?.delete ?? []) {
    url.searchParams.delete(name);
  }
});

service.on('beforeTokenSigning', (token) => {
  // the ID token is the one signed for an audience; access tokens carry a scope instead
  if ('scope' in token.payload || !('aud' in token.payload)) return;
  const spec = behaviour.idToken ?? {};
  Object.assign(token.payload, spec.claims ?? {});
  for (const claim of spec.drop ?? []) delete token.payload[claim];
  const now = Math.floor(Date.now() / 1000);
  for (const [claim, offset] of Object.entries(spec.times ?? {})) token.payload[claim] = now + offset;
});

service.on('beforeResponse', (response, req) => {
  stats.tokenRequests.push({
    grant_type: req.body?.grant_type,
    code_verifier: typeof req.body?.code_verifier === 'string',
    basic_auth: (req.headers.authorization ?? '').startsWith('Basic '),
    client_secret_in_body: 'client_secret' in (req.body ?? {}),
  });
  const spec = behaviour.token ?? {};
  if (spec.status !== undefined) response.statusCode = spec.status;
  if (spec.body !== undefined) response.body = spec.body;
  Object.assign(response.body, spec.merge ?? {});
  for (const member of spec.drop ?? []) delete response.body[member];
});

service.on('beforeUserinfo', (response) => {
  const spec = behaviour.userinfo ?? {};
  if (spec.status !== undefined) response.statusCode = spec.status;
  if (spec.body !== undefined) response.body = spec.body;
});

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
}

function answer(res, status, body) {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function control(req, res, path) {
  if (req.method === 'PUT' && path === '/__control/behaviour') {
    behaviour = await readJson(req);
    stats = { paths: {}, tokenRequests: [] };
    answer(res, 200, { ok: true });
  } else if (req.method === 'GET' && path === '/__control/stats') {
    answer(res, 200, stats);
  } else {
    answer(res, 404, { error: 'no such control route' });
  }
}

const server = createServer((req, res) => {
  const path = new URL(req.url, 'http://127.0.0.1').pathname;
  if (path.startsWith('/__control/')) {
    control(req, res, path).catch((err) => answer(res, 500, { error: String(err) }));
    return;
  }
  stats.paths[path] = (stats.paths[path] ?? 0) + 1;
  if (path === '/token' && behaviour.tokenRaw) {
    const raw = behaviour.tokenRaw;
    req.resume();
    res.writeHead(raw.status ?? 200, { 'Content-Type': raw.contentType ?? 'text/html' });
    res.end(raw.body ?? '');
    return;
  }
  if (path === '/token' && behaviour.tokenDelayMs) {
    setTimeout(() => {
      if (!req.socket.destroyed) service.requestHandler(req, res); // the client may have given up
    }, behaviour.tokenDelayMs);
    return;
  }
  service.requestHandler(req, res);
});

await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(0, '127.0.0.1', resolve);
});
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;
mock.issuer.url = issuer; // its CLI would advertise "localhost"; issuers are exact strings

process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
process.stdout.write(`${JSON.stringify({ issuer, port })}\n`);
