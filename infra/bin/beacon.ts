#!/usr/bin/env node
// The CDK app: one stack, its settings from context, cdk-nag's AwsSolutions checks on.

import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { BeaconStack } from '../lib/beacon-stack';
import { ProbeStack } from '../lib/probe-stack';
import { readSettings } from '../lib/settings';

const app = new App();
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
const settings = readSettings((key) => app.node.tryGetContext(key));
// Probes in other regions reach the main stack's table across regions: both stacks then
// name their region, and CDK carries the table's name and ARN between them.
const crossRegion = settings.probeRegions.length > 0;
const account = process.env.CDK_DEFAULT_ACCOUNT;
const main = new BeaconStack(app, 'Beacon', {
  settings,
  description: 'beacon: incident management and a public status page',
  env: settings.region ? { region: settings.region, account } : undefined,
  crossRegionReferences: crossRegion,
});
for (const region of settings.probeRegions) {
  new ProbeStack(app, `BeaconProbes-${region}`, {
    settings,
    description: `beacon: monitor probes from ${region}`,
    env: { region, account },
    crossRegionReferences: true,
    table: main.table,
    tableRegion: settings.region ?? region,
  });
}
app.synth();
