// A real OpenID provider for the tests of signing in with a gemeente's own identity provider
// (tests/oidc.rs, and the browser test in pages.mjs): oidc-provider from the npm registry, an
// OpenID-certified implementation, on loopback, with one client and people in groups. Its own
// login page (the development interactions: any password) is what people sign in on.
//
//   node oidc-provider.mjs serve --port P --host H --keys FILE --redirect URI --client-id ID --client-secret S
//       Serves on 127.0.0.1 until killed, as the issuer http://H:P; prints "listening" when it
//       takes requests. Makes FILE with one signing key when it does not exist.
//   node oidc-provider.mjs rotate --keys FILE
//       Puts a new signing key first in FILE and keeps the old one (a provider's key rotation).
//   node oidc-provider.mjs sign --keys FILE --claims JSON [--kid KID]
//       Prints a JWT with these claims, signed with FILE's first key (under another key id with
//       --kid): for the tests of tokens a provider should never send (another audience,
//       expired, another key).

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import * as jose from 'jose';
import { Provider } from 'oidc-provider';

// The people of the tests: their groups as an identity provider gives them in `groups`.
const PEOPLE = {
  'medewerker.deventer': ['waakvlam-deventer'],
  'coordinator.regio': ['waakvlam-deventer', 'waakvlam-apeldoorn-lezen'],
  'lezer.apeldoorn': ['waakvlam-apeldoorn-lezen'],
  'privacy.deventer': ['waakvlam-privacy-deventer'],
  'zonder.groepen': [],
  'andere.groep': ['afdeling-burgerzaken'],
};

function option(name) {
  const at = process.argv.indexOf(name);
  if (at < 0 || at + 1 >= process.argv.length) {
    throw new Error(`${name} is missing`);
  }
  return process.argv[at + 1];
}

async function newKey() {
  const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
  const jwk = await jose.exportJWK(privateKey);
  return { ...jwk, kid: randomBytes(8).toString('hex'), alg: 'RS256', use: 'sig' };
}

async function keys(file) {
  if (!existsSync(file)) {
    writeFileSync(file, JSON.stringify({ keys: [await newKey()] }));
  }
  return JSON.parse(readFileSync(file, 'utf8'));
}

async function serve() {
  const port = Number(option('--port'));
  const issuer = `http://${option('--host')}:${port}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: option('--client-id'),
        client_secret: option('--client-secret'),
        redirect_uris: [option('--redirect')],
        response_types: ['code'],
        grant_types: ['authorization_code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: await keys(option('--keys')),
    cookies: { keys: [randomBytes(32).toString('hex')] },
    claims: {
      openid: ['sub'],
      profile: ['preferred_username', 'name'],
      groups: ['groups'],
    },
    scopes: ['openid', 'profile', 'groups'],
    // The claims of the scopes asked for go into the ID token, as Entra ID and Keycloak put
    // `groups` there.
    conformIdTokenClaims: false,
    async findAccount(ctx, sub) {
      if (!(sub in PEOPLE)) {
        return undefined;
      }
      return {
        accountId: sub,
        async claims() {
          return {
            sub,
            preferred_username: sub,
            name: `Naam van ${sub}`,
            groups: PEOPLE[sub],
          };
        },
      };
    },
  });
  provider.listen(port, '127.0.0.1', () => {
    console.log('listening');
  });
}

async function rotate() {
  const file = option('--keys');
  const old = await keys(file);
  writeFileSync(file, JSON.stringify({ keys: [await newKey(), ...old.keys] }));
}

async function sign() {
  const [first] = (await keys(option('--keys'))).keys;
  const key = await jose.importJWK(first, 'RS256');
  const claims = JSON.parse(option('--claims'));
  const at = process.argv.indexOf('--kid');
  const kid = at > 0 ? process.argv[at + 1] : first.kid;
  const token = await new jose.SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' })
    .sign(key);
  console.log(token);
}

const commands = { serve, rotate, sign };
const command = commands[process.argv[2]];
if (!command) {
  console.error('usage: node oidc-provider.mjs serve|rotate|sign ...');
  process.exit(2);
}
command().catch((err) => {
  console.error(err);
  process.exit(1);
});
