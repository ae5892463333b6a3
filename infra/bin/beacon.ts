#!/usr/bin/env node
// The CDK app: one stack, its settings from context, cdk-nag's AwsSolutions checks on.

import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { BeaconStack } from '../lib/beacon-stack';
import { readSettings } from '../lib/settings';

const app = new App();
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
const settings = readSettings((key) => app.node.tryGetContext(key));
new BeaconStack(app, 'Beacon', {
  settings,
  description: 'beacon: incident management and a public status page',
});
app.synth();
