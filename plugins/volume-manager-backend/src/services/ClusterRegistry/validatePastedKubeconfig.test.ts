import {
  MAX_PASTED_KUBECONFIG_BYTES,
  validatePastedKubeconfig,
} from './validatePastedKubeconfig';

const good = `
apiVersion: v1
kind: Config
clusters:
  - name: c
    cluster:
      server: https://127.0.0.1:6443
      certificate-authority-data: Zm9v
contexts:
  - name: ctx
    context: { cluster: c, user: u }
current-context: ctx
users:
  - name: u
    user:
      token: abc
`;

describe('validatePastedKubeconfig', () => {
  it.each([
    ['an unterminated quote', 'users:\n  - name: u\n    user:\n      token: "sk-live-TOKEN0123456789abcdef\n'],
    ['a compact nested mapping', 'users:\n  - name: u\n    user: { token: sk-live-TOKEN0123456789abcdef: x: y }\n'],
    ['an unclosed flow map', 'users: [{ name: u, user: { token: sk-live-TOKEN0123456789abcdef }\n'],
    ['an unknown tag', 'users:\n  - name: u\n    user:\n      token: !secret sk-live-TOKEN0123456789abcdef\n'],
    ['a bad indent', 'users:\n  - name: u\n    user:\n      token: sk-live-TOKEN0123456789abcdef\n     client-key-data: x: y\n'],
  ])('says where the YAML is broken without echoing its content (%s)', (_, text) => {
    let thrown: Error | undefined;
    try {
      validatePastedKubeconfig(text);
    } catch (error) {
      thrown = error as Error;
    }
    expect(thrown?.name).toBe('InputError');
    const message = thrown?.message ?? '';
    expect(message).toMatch(/^The pasted kubeconfig is not valid YAML \([A-Z_]+ at line \d+, column \d+\)$/);
    expect(message).not.toContain('TOKEN0123456789');
    expect(message).not.toContain('sk-live');
  });

  it('accepts a kubeconfig with inline credentials', () => {
    expect(validatePastedKubeconfig(good)).toEqual({ contexts: ['ctx'], currentContext: 'ctx' });
  });

  it.each([
    ['exec', 'exec: { command: /bin/sh, args: [-c, id] }', "'users[0].user.exec' would run code"],
    ['auth-provider', 'auth-provider: { name: gcp }', "'users[0].user.auth-provider' would run code"],
    ['tokenFile', 'tokenFile: /etc/shadow', "'users[0].user.tokenFile' would run code or read files"],
    ['client-key', 'client-key: /root/.ssh/id_rsa', "'users[0].user.client-key' names a file"],
    ['client-certificate', 'client-certificate: /etc/x.crt', "'users[0].user.client-certificate' names a file"],
  ])('refuses %s with a message naming it', (_, line, message) => {
    const hostile = good.replace('token: abc', line);
    expect(() => validatePastedKubeconfig(hostile)).toThrow(message);
  });

  it('refuses a CA given as a file path', () => {
    const hostile = good.replace('certificate-authority-data: Zm9v', 'certificate-authority: /etc/ssl/ca.pem');
    expect(() => validatePastedKubeconfig(hostile)).toThrow(
      "'clusters[0].cluster.certificate-authority' names a file",
    );
  });

  it('refuses oversize kubeconfigs', () => {
    const big = `${good}# ${'x'.repeat(MAX_PASTED_KUBECONFIG_BYTES)}\n`;
    expect(() => validatePastedKubeconfig(big)).toThrow(/limit is 65536 bytes/);
  });

  it('refuses what is not a kubeconfig', () => {
    expect(() => validatePastedKubeconfig('{{{')).toThrow(/not valid YAML/);
    expect(() => validatePastedKubeconfig('- a\n- b\n')).toThrow(/not a YAML mapping/);
    expect(() => validatePastedKubeconfig('kind: Config\n')).toThrow(/has no clusters/);
  });
});
