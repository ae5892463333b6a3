// The deployment's settings, read once from CDK context (`-c name=value` or cdk.json)
// and checked, so a mistake fails the synth with a clear message instead of a broken
// stack.

import * as fs from 'node:fs';
import * as path from 'node:path';

export type Architecture = 'arm64' | 'x86_64';

/** The function binaries cargo-lambda builds; `fanout` is deployed four times (relay,
 * planner, deliverer, feedback), each with its own trigger and permissions; `probe` once
 * per region probes run in; `hooks` takes alerting tools' deliveries; `scheduler` takes
 * planned maintenance's steps on a schedule. */
export const FUNCTIONS = ['api', 'hooks', 'publish', 'fanout', 'probe', 'scheduler'] as const;
export type FunctionName = (typeof FUNCTIONS)[number];

export interface Settings {
  /** The CPU the functions are built for and run on. */
  readonly arch: Architecture;
  /** Where `cargo lambda build` left `<function>/bootstrap.zip` and `build.json`. */
  readonly functionsDir: string;
  readonly pageName: string;
  /** IANA time zone shown on the page. */
  readonly timeZone: string;
  /** A custom domain for the page, with its ACM certificate (us-east-1) ARN. */
  readonly domain?: { readonly name: string; readonly certificateArn: string };
  /** The SES identity mail is sent from: an address or a whole domain. */
  readonly sender?: { readonly kind: 'email' | 'domain'; readonly value: string };
  /** Where alarms are mailed, if anywhere. */
  readonly alarmEmail?: string;
  /** The stack's region: required when probes run in other regions too. */
  readonly region?: string;
  /** Regions probes run in besides the stack's own; each gets a `BeaconProbes-<region>`
   * stack of its own, writing to the table in the stack's region. */
  readonly probeRegions: readonly string[];
}

export class SettingsError extends Error {}

type Context = (key: string) => unknown;

function text(context: Context, key: string): string | undefined {
  const value = context(key);
  if (value === undefined || value === null) {
    return undefined;
  }
  if (typeof value !== 'string') {
    throw new SettingsError(`context ${key} must be a string, got ${JSON.stringify(value)}`);
  }
  // Blank is unset: `-c pageName=" "` falls back to the default rather than naming nothing.
  const trimmed = value.trim();
  return trimmed === '' ? undefined : trimmed;
}

const REGION = /^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$/;
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
const DOMAIN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i;

export function readSettings(context: Context): Settings {
  const arch = text(context, 'arch') ?? 'arm64';
  if (arch !== 'arm64' && arch !== 'x86_64') {
    throw new SettingsError(`context arch must be arm64 or x86_64, got ${arch}`);
  }
  const domainName = text(context, 'domainName');
  const certificateArn = text(context, 'certificateArn');
  if ((domainName === undefined) !== (certificateArn === undefined)) {
    throw new SettingsError('context domainName and certificateArn go together: give both or neither');
  }
  if (domainName !== undefined && !DOMAIN.test(domainName)) {
    throw new SettingsError(`context domainName is not a domain name: ${domainName}`);
  }
  // Any partition's ARN (aws, aws-cn, aws-us-gov), but the certificate must be in us-east-1.
  if (certificateArn !== undefined && !/^arn:aws[a-z-]*:acm:us-east-1:\d{12}:certificate\/.+$/.test(certificateArn)) {
    throw new SettingsError('context certificateArn must be an ACM certificate in us-east-1 (CloudFront requires it)');
  }
  const sender = text(context, 'sender');
  if (sender !== undefined && !EMAIL.test(sender) && !DOMAIN.test(sender)) {
    throw new SettingsError(`context sender must be an email address or a domain, got ${sender}`);
  }
  const alarmEmail = text(context, 'alarmEmail');
  if (alarmEmail !== undefined && !EMAIL.test(alarmEmail)) {
    throw new SettingsError(`context alarmEmail must be an email address, got ${alarmEmail}`);
  }
  const region = text(context, 'region');
  if (region !== undefined && !REGION.test(region)) {
    throw new SettingsError(`context region is not an AWS region: ${region}`);
  }
  // A comma-separated list on the command line (-c probeRegions=us-east-1,ap-southeast-2)
  // or a JSON array in cdk.json.
  const rawProbeRegions = context('probeRegions');
  let probeRegions: string[] = [];
  if (Array.isArray(rawProbeRegions)) {
    probeRegions = rawProbeRegions.map((r) => String(r).trim());
  } else if (typeof rawProbeRegions === 'string') {
    probeRegions = rawProbeRegions.split(',').map((r) => r.trim());
  } else if (rawProbeRegions !== undefined && rawProbeRegions !== null) {
    throw new SettingsError('context probeRegions must be a list of regions (or a comma-separated string)');
  }
  probeRegions = probeRegions.filter((r) => r !== '' && r !== region);
  for (const r of probeRegions) {
    if (!REGION.test(r)) {
      throw new SettingsError(`context probeRegions: ${r} is not an AWS region`);
    }
  }
  if (new Set(probeRegions).size !== probeRegions.length) {
    throw new SettingsError('context probeRegions names a region twice');
  }
  if (probeRegions.length + 1 > 10) {
    throw new SettingsError('context probeRegions: probes run in 10 regions at most (monitors choose from them)');
  }
  if (probeRegions.length > 0 && region === undefined) {
    throw new SettingsError(
      'context probeRegions needs the stack\'s own region too (-c region=…): the probe stacks reach its table across regions',
    );
  }
  return {
    arch,
    region,
    probeRegions,
    functionsDir: text(context, 'functionsDir') ?? 'build/lambda',
    pageName: text(context, 'pageName') ?? 'Status',
    timeZone: text(context, 'timeZone') ?? 'Etc/UTC',
    domain: domainName && certificateArn ? { name: domainName, certificateArn } : undefined,
    sender: sender === undefined ? undefined : { kind: sender.includes('@') ? 'email' : 'domain', value: sender },
    alarmEmail,
  };
}

/**
 * The built function's zip, checked against the architecture the stack deploys: an
 * x86_64 binary on an arm64 function would fail only at its first invocation.
 */
export function functionZip(settings: Settings, name: FunctionName): string {
  const dir = path.resolve(settings.functionsDir, name);
  const zip = path.join(dir, 'bootstrap.zip');
  if (!fs.existsSync(zip)) {
    throw new SettingsError(
      `${zip} is missing: build the functions first with infra/build-functions.sh (see the README's Deploy section)`,
    );
  }
  const manifest = path.join(path.resolve(settings.functionsDir), 'build.json');
  const built = fs.existsSync(manifest) ? (JSON.parse(fs.readFileSync(manifest, 'utf8')) as { arch?: string }).arch : undefined;
  if (built !== settings.arch) {
    throw new SettingsError(
      `the functions in ${settings.functionsDir} were built for ${built ?? 'an unknown architecture'}, ` +
        `but the stack deploys ${settings.arch}: rebuild, or pass -c arch=${built ?? settings.arch}`,
    );
  }
  return zip;
}
