/** The flags every command that reaches registries shares (credentials, mirrors, TLS, retries), as RegistryOptions. */
import { Option, type Command } from 'commander';
import { parseCredentials } from '../registry/auth.js';
import type { RegistryOptions } from '../registry/session.js';
import { nonNegativeInteger, positiveNumber } from './format.js';

/** The flags every command that talks to registries takes. */
export interface RegistryFlags {
  creds?: string;
  authfile?: string;
  mirror: string[];
  trustedMirror: string[];
  config?: string;
  daemonConfig: boolean;
  insecureRegistry: string[];
  caFile?: string;
  connectTimeout: number;
  stallTimeout: number;
  retries: number;
}

/** Adds the shared registry flags to a command. */
export function addRegistryOptions(command: Command): Command {
  return command
    .option('--creds <user:password>', 'credentials for registries that ask for them (instead of docker config.json)')
    .option('--authfile <path>', 'read credentials from this docker config.json or containers auth.json')
    .addOption(
      new Option(
        '--mirror <[registry=]url>',
        'try this mirror before the registry (repeatable; without registry=, for Docker Hub)',
      )
        .argParser(collect)
        .default([]),
    )
    .addOption(
      new Option('--trusted-mirror <[registry=]url>', 'a mirror that may also resolve tags (repeatable)')
        .argParser(collect)
        .default([]),
    )
    .option('--config <file>', "frozen's config file (default: $XDG_CONFIG_HOME/frozen/config.json)")
    .option('--no-daemon-config', "ignore /etc/docker/daemon.json's registry-mirrors")
    .addOption(
      new Option('--insecure-registry <host>', 'unverified TLS, or plain http, for this registry host (repeatable)')
        .argParser(collect)
        .default([]),
    )
    .option('--ca-file <pem>', 'trust these CA certificates too')
    .option('--connect-timeout <seconds>', 'give up connecting after this long', positiveNumber, 30)
    .option(
      '--stall-timeout <seconds>',
      'give up on a response that sends nothing for this long (retried)',
      positiveNumber,
      120,
    )
    .option('--retries <n>', 'retries after a network error, timeout, 408, 429 or 5xx', nonNegativeInteger, 5);
}

/** The RegistryOptions the shared registry flags give. */
export function registryOptions(flags: RegistryFlags): RegistryOptions {
  return {
    ...(flags.creds !== undefined && { credentials: parseCredentials(flags.creds) }),
    ...(flags.authfile !== undefined && { authfile: flags.authfile }),
    mirrors: flags.mirror,
    trustedMirrors: flags.trustedMirror,
    ...(flags.config !== undefined && { configFile: flags.config }),
    ...(!flags.daemonConfig && { daemonConfig: false }),
    insecureRegistries: flags.insecureRegistry,
    ...(flags.caFile !== undefined && { caFile: flags.caFile }),
    connectTimeoutMs: flags.connectTimeout * 1000,
    stallTimeoutMs: flags.stallTimeout * 1000,
    retries: flags.retries,
  };
}

/** `--verify-key <file>` (repeatable), for the commands that check signatures: pull and lock. */
export function addVerifyKeyOption(command: Command): Command {
  return command.addOption(
    new Option(
      '--verify-key <file>',
      'a cosign public key (PEM); every image must carry a cosign signature by one of these keys (repeatable)',
    )
      .argParser(collect)
      .default([]),
  );
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
