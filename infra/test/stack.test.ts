// Assertions on the synthesised template: every resource and property the deployment
// promises, the IAM statements of each function, and cdk-nag's AwsSolutions pack clean.
// Runs offline: the functions' zips are stand-ins (a synth never looks inside them).

import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { API_BURST_LIMIT, API_RATE_LIMIT, BeaconStack, HOOKS_BURST_LIMIT, HOOKS_RATE_LIMIT, DELIVERERS, NOTICE_CHANGES, inlineStyleHash } from '../lib/beacon-stack';
import { ProbeStack } from '../lib/probe-stack';
import { FUNCTIONS, SettingsError, readSettings } from '../lib/settings';

/** A folder laid out as `infra/build-functions.sh` leaves it, for `arch`. */
function builtFunctions(arch: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'beacon-functions-'));
  for (const name of FUNCTIONS) {
    fs.mkdirSync(path.join(dir, name));
    fs.writeFileSync(path.join(dir, name, 'bootstrap.zip'), `stand-in for ${name}`);
  }
  fs.writeFileSync(path.join(dir, 'build.json'), JSON.stringify({ arch }));
  return dir;
}

interface Synth {
  app: App;
  stack: BeaconStack;
  template: Template;
}

function synth(context: Record<string, string> = {}, extra?: (stack: Stack) => void): Synth {
  const arch = context.arch ?? 'arm64';
  const app = new App({ context: { functionsDir: builtFunctions(arch), ...context } });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const stack = new BeaconStack(app, 'Beacon', { settings: readSettings((key) => app.node.tryGetContext(key)) });
  extra?.(stack);
  // Runs the validation plugins: an unacknowledged cdk-nag finding throws here.
  app.synth();
  return { app, stack, template: Template.fromStack(stack) };
}

const base = synth();
const t = base.template;

/** The policy statements attached to the role of `fn`. */
function statementsOf(template: Template, stack: BeaconStack, fn: keyof BeaconStack['functions']): any[] {
  const role = stack.getLogicalId(stack.functions[fn].role!.node.defaultChild as any);
  const policies = template.findResources('AWS::IAM::Policy');
  return Object.values(policies)
    .filter((p: any) => p.Properties.Roles.some((r: any) => r.Ref === role))
    .flatMap((p: any) => p.Properties.PolicyDocument.Statement);
}

function actionsOf(statements: any[]): string[] {
  return statements.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]));
}

test('cdk-nag AwsSolutions: no finding left unacknowledged, and the check does fail on one', () => {
  // `synth()` above already passed. An unlogged bucket must be refused:
  assert.throws(() =>
    synth({}, (stack) => {
      new s3.Bucket(stack, 'Unlogged', { enforceSSL: true });
    }),
    /Validation failed/,
  );
});

test('the table: on-demand, PITR, deletion protection, TTL, stream of both images, retained', () => {
  t.hasResource('AWS::DynamoDB::Table', {
    DeletionPolicy: 'Retain',
    Properties: {
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      DeletionProtectionEnabled: true,
      TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
      StreamSpecification: { StreamViewType: 'NEW_AND_OLD_IMAGES' },
      // Every access path is a partition of its own: no index is needed.
      GlobalSecondaryIndexes: Match.absent(),
    },
  });
});

test('the site bucket: private, encrypted, TLS only, versioned, logged', () => {
  const site = base.stack.getLogicalId(base.stack.siteBucket.node.defaultChild as any);
  t.hasResource('AWS::S3::Bucket', {
    Properties: {
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      VersioningConfiguration: { Status: 'Enabled' },
      LifecycleConfiguration: {
        Rules: [Match.objectLike({ NoncurrentVersionExpiration: { NoncurrentDays: 30 }, ExpiredObjectDeleteMarker: true })],
      },
      LoggingConfiguration: Match.objectLike({ DestinationBucketName: Match.anyValue() }),
    },
  });
  const policies = Object.values(t.findResources('AWS::S3::BucketPolicy')).filter(
    (p: any) => p.Properties.Bucket.Ref === site,
  );
  assert.equal(policies.length, 1);
  const statements: any[] = (policies[0] as any).Properties.PolicyDocument.Statement;
  assert.ok(
    statements.some(
      (s) => s.Effect === 'Deny' && s.Condition?.Bool?.['aws:SecureTransport'] === 'false',
    ),
    'TLS is enforced',
  );
  assert.ok(
    statements.some(
      (s) =>
        s.Effect === 'Allow' &&
        s.Principal?.Service === 'cloudfront.amazonaws.com' &&
        s.Condition?.StringEquals?.['AWS:SourceArn'] !== undefined,
    ),
    'only this distribution reads it, through origin access control',
  );
});

test('the CDN: origin access control, compression, HTTPS, the page 404, logging, security headers', () => {
  t.hasResourceProperties('AWS::CloudFront::OriginAccessControl', {
    OriginAccessControlConfig: Match.objectLike({
      OriginAccessControlOriginType: 's3',
      SigningBehavior: 'always',
      SigningProtocol: 'sigv4',
    }),
  });
  t.hasResourceProperties('AWS::CloudFront::Distribution', {
    DistributionConfig: Match.objectLike({
      DefaultRootObject: 'index.html',
      DefaultCacheBehavior: Match.objectLike({
        Compress: true,
        ViewerProtocolPolicy: 'redirect-to-https',
        ResponseHeadersPolicyId: Match.anyValue(),
      }),
      CustomErrorResponses: [
        { ErrorCode: 403, ResponseCode: 404, ResponsePagePath: '/404.html', ErrorCachingMinTTL: 60 },
        { ErrorCode: 404, ResponseCode: 404, ResponsePagePath: '/404.html', ErrorCachingMinTTL: 60 },
      ],
      Logging: Match.objectLike({ Prefix: 'cdn/' }),
      Aliases: Match.absent(),
    }),
  });
  const policies = Object.values(t.findResources('AWS::CloudFront::ResponseHeadersPolicy')) as any[];
  assert.equal(policies.length, 2, 'the page, and the v2 JSON with CORS');
  const [policy, api] = [
    policies.find((p) => !p.Properties.ResponseHeadersPolicyConfig.CorsConfig),
    policies.find((p) => p.Properties.ResponseHeadersPolicyConfig.CorsConfig),
  ];
  // Widgets on other sites read the v2 JSON, as they read Statuspage's; with the same security headers.
  const cors = api.Properties.ResponseHeadersPolicyConfig.CorsConfig;
  assert.deepEqual(cors.AccessControlAllowOrigins.Items, ['*']);
  assert.deepEqual(cors.AccessControlAllowMethods.Items, ['GET', 'HEAD', 'OPTIONS']);
  assert.equal(cors.AccessControlAllowCredentials, false);
  assert.deepEqual(
    api.Properties.ResponseHeadersPolicyConfig.SecurityHeadersConfig,
    policy.Properties.ResponseHeadersPolicyConfig.SecurityHeadersConfig,
  );
  t.hasResourceProperties('AWS::CloudFront::Distribution', {
    DistributionConfig: Match.objectLike({
      CacheBehaviors: Match.arrayWith([
        Match.objectLike({ PathPattern: 'api/v2/*', Compress: true, ViewerProtocolPolicy: 'redirect-to-https' }),
      ]),
    }),
  });
  const security = policy.Properties.ResponseHeadersPolicyConfig.SecurityHeadersConfig;
  assert.equal(security.StrictTransportSecurity.AccessControlMaxAgeSec, 730 * 86400);
  assert.notEqual(security.StrictTransportSecurity.Preload, true, 'no HSTS preload promise');
  assert.equal(security.StrictTransportSecurity.IncludeSubdomains, true);
  assert.equal(security.ContentTypeOptions.Override, true);
  assert.equal(security.FrameOptions.FrameOption, 'DENY');
  const csp: string = security.ContentSecurityPolicy.ContentSecurityPolicy;
  assert.match(csp, /script-src 'self'/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.ok(csp.includes(`style-src 'self' ${inlineStyleHash()}`), csp);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
});

test("the CSP's style hash is the hash of the stylesheet the page inlines", () => {
  // The reviewed render of the index (a Rust snapshot test keeps it current).
  const snapshot = fs.readFileSync(
    path.join(__dirname, '..', '..', '..', 'shared', 'site', 'tests', 'snapshots', 'snapshots__index.snap'),
    'utf8',
  );
  const inline = /<style>([\s\S]*?)<\/style>/.exec(snapshot);
  assert.ok(inline, 'the index inlines its stylesheet');
  const hash = `'sha256-${crypto.createHash('sha256').update(inline[1], 'utf8').digest('base64')}'`;
  assert.equal(hash, inlineStyleHash());
});

test('a custom domain gets its certificate and TLS 1.2 at least', () => {
  const { template } = synth({
    domainName: 'status.example.com',
    certificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/abc',
  });
  template.hasResourceProperties('AWS::CloudFront::Distribution', {
    DistributionConfig: Match.objectLike({
      Aliases: ['status.example.com'],
      ViewerCertificate: Match.objectLike({
        AcmCertificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/abc',
        MinimumProtocolVersion: 'TLSv1.2_2021',
        SslSupportMethod: 'sni-only',
      }),
    }),
  });
  template.hasResourceProperties('AWS::Lambda::Function', {
    Environment: { Variables: Match.objectLike({ BEACON_PUBLIC_URL: 'https://status.example.com' }) },
  });
  template.hasResourceProperties('AWS::Lambda::Function', {
    Environment: { Variables: Match.objectLike({ BEACON_SUBSCRIBE_URL: 'https://status.example.com/subscriptions' }) },
  });
});

test('the HTTP API: the api function behind it, throttled, logged, no CORS (browsers come through the page origin)', () => {
  t.hasResourceProperties('AWS::ApiGatewayV2::Api', { ProtocolType: 'HTTP', CorsConfiguration: Match.absent() });
  t.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
    StageName: '$default',
    AutoDeploy: true,
    DefaultRouteSettings: { ThrottlingRateLimit: API_RATE_LIMIT, ThrottlingBurstLimit: API_BURST_LIMIT },
    AccessLogSettings: Match.objectLike({ DestinationArn: Match.anyValue() }),
  });
  t.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
    IntegrationType: 'AWS_PROXY',
    PayloadFormatVersion: '2.0',
  });
  // Hook URLs: their own route to the hooks function, throttled apart from the API.
  t.hasResourceProperties('AWS::ApiGatewayV2::Route', {
    RouteKey: 'POST /api/v1/hooks/{secret}',
    AuthorizationType: 'NONE',
    Target: Match.anyValue(),
  });
  t.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
    IntegrationUri: { 'Fn::GetAtt': [Match.stringLikeRegexp('^hooksFunction'), 'Arn'] },
  });
  t.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
    RouteSettings: {
      'POST /api/v1/hooks/{secret}': { ThrottlingRateLimit: HOOKS_RATE_LIMIT, ThrottlingBurstLimit: HOOKS_BURST_LIMIT },
    },
  });
  t.hasResourceProperties('AWS::Lambda::Permission', {
    FunctionName: { 'Fn::GetAtt': [Match.stringLikeRegexp('^hooksFunction'), 'Arn'] },
    Principal: 'apigateway.amazonaws.com',
  });
});

test('the functions: provided.al2023 on arm64 by default, their logs kept a month', () => {
  const functions = Object.values(t.findResources('AWS::Lambda::Function')) as any[];
  const ours = functions.filter((f) => f.Properties.Runtime === 'provided.al2023');
  assert.equal(ours.length, 9, 'api, hooks, publish, probe, scheduler, and fanout as relay, planner, deliverer, feedback');
  const table = base.stack.getLogicalId(base.stack.table.node.defaultChild as any);
  for (const f of ours) {
    assert.deepEqual(f.Properties.Architectures, ['arm64']);
    assert.equal(f.Properties.Handler, 'bootstrap');
    assert.ok(f.Properties.LoggingConfig.LogGroup, 'each function logs to its own group');
    const vars = f.Properties.Environment.Variables;
    // The relay only moves change records to the bus: it never gets the table's name.
    if (vars.BEACON_EVENT_BUS) {
      assert.equal(vars.BEACON_DYNAMODB_TABLE, undefined);
    } else {
      assert.equal(vars.BEACON_DYNAMODB_TABLE.Ref, table);
    }
  }
  const publish = ours.find((f) => f.Properties.Environment.Variables.BEACON_SITE_BUCKET);
  assert.ok(publish, 'the publisher knows its bucket');
  assert.equal(publish.Properties.Timeout, 60);
  const groups = Object.values(t.findResources('AWS::Logs::LogGroup')) as any[];
  assert.equal(groups.length, 10, 'nine functions and the API access log');
  for (const g of groups) {
    assert.equal(g.Properties.RetentionInDays, 30);
  }
});

test('x86_64 is one switch away', () => {
  const { template } = synth({ arch: 'x86_64' });
  const functions = Object.values(template.findResources('AWS::Lambda::Function')) as any[];
  const ours = functions.filter((f) => f.Properties.Runtime === 'provided.al2023');
  assert.ok(ours.length === 9 && ours.every((f) => f.Properties.Architectures[0] === 'x86_64'));
});

test('the publisher runs on change records only, batched, bisecting, with a failure queue', () => {
  const streamReaders = Object.values(t.findResources('AWS::Lambda::EventSourceMapping')).filter(
    (m: any) => m.Properties.EventSourceArn['Fn::GetAtt']?.[1] === 'StreamArn',
  );
  assert.equal(streamReaders.length, 2, 'the stream has room for two readers: the publisher and the relay');
  t.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
    EventSourceArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Table'), 'StreamArn'] },
    StartingPosition: 'TRIM_HORIZON',
    BatchSize: 100,
    MaximumBatchingWindowInSeconds: 1,
    BisectBatchOnFunctionError: true,
    MaximumRetryAttempts: 5,
    DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [Match.stringLikeRegexp('^PublishFailures'), 'Arn'] } } },
    FilterCriteria: { Filters: [{ Pattern: JSON.stringify({ dynamodb: { NewImage: { feed: { BOOL: [true] } } } }) }] },
  });
  t.hasResourceProperties('AWS::Events::Rule', {
    ScheduleExpression: 'rate(5 minutes)',
    Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^publishFunction'), 'Arn'] } })],
  });
});

test('the event bus, the mail configuration set, and the sender identity when given', () => {
  t.resourceCountIs('AWS::Events::EventBus', 1);
  // Domain events (source `beacon`; internal change records are `beacon.changes`) are
  // archived for replay, and the bus is an output for teams' own rules.
  t.hasResourceProperties('AWS::Events::Archive', {
    SourceArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Events'), 'Arn'] },
    EventPattern: { source: ['beacon'] },
    RetentionDays: 30,
  });
  t.hasOutput('EventBusName', {});
  t.hasOutput('EventBusArn', {});
  t.hasResourceProperties('AWS::SES::ConfigurationSet', {
    ReputationOptions: { ReputationMetricsEnabled: true },
    SendingOptions: { SendingEnabled: true },
    SuppressionOptions: { SuppressedReasons: ['BOUNCE', 'COMPLAINT'] },
  });
  t.resourceCountIs('AWS::SES::EmailIdentity', 0);
  const { template } = synth({ sender: 'status@example.com' });
  template.hasResourceProperties('AWS::SES::EmailIdentity', {
    EmailIdentity: 'status@example.com',
    ConfigurationSetAttributes: { ConfigurationSetName: Match.anyValue() },
  });
  synth({ sender: 'example.com' }).template.hasResourceProperties('AWS::SES::EmailIdentity', {
    EmailIdentity: 'example.com',
  });
});

test('IAM: each function gets exactly what its grants give', () => {
  const api = actionsOf(statementsOf(t, base.stack, 'api'));
  assert.ok(api.includes('dynamodb:PutItem') && api.includes('dynamodb:Query'), api.join());
  assert.ok(!api.some((a) => a.startsWith('s3:') || a.startsWith('sqs:')), `api: ${api.join()}`);
  assert.ok(api.includes('ses:SendEmail'), 'the api mails confirmation links');

  // The hooks function reads and writes the table, and nothing else.
  const hooks = actionsOf(statementsOf(t, base.stack, 'hooks'));
  assert.ok(hooks.includes('dynamodb:PutItem') && hooks.includes('dynamodb:GetItem'), hooks.join());
  assert.ok(hooks.every((a) => a.startsWith('dynamodb:')), `hooks: ${hooks.join()}`);

  const publishStatements = statementsOf(t, base.stack, 'publish');
  const publish = actionsOf(publishStatements);
  for (const needed of ['dynamodb:Query', 'dynamodb:GetItem', 'dynamodb:GetRecords', 's3:PutObject', 's3:DeleteObject*', 'sqs:SendMessage']) {
    assert.ok(publish.includes(needed), `publish lacks ${needed}: ${publish.join()}`);
  }
  for (const forbidden of ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem']) {
    assert.ok(!publish.includes(forbidden), `publish must not ${forbidden}`);
  }
  const relay = actionsOf(statementsOf(t, base.stack, 'relay'));
  assert.ok(relay.includes('events:PutEvents') && relay.includes('dynamodb:GetRecords'), relay.join());
  assert.ok(!relay.some((a) => ['dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:GetItem'].includes(a) || a.startsWith('ses:')), relay.join());
  const planner = actionsOf(statementsOf(t, base.stack, 'planner'));
  assert.ok(planner.includes('sqs:SendMessage') && planner.includes('dynamodb:Query'), planner.join());
  assert.ok(!planner.some((a) => a.startsWith('ses:')), 'the planner sends no mail');
  const deliverer = actionsOf(statementsOf(t, base.stack, 'deliverer'));
  for (const needed of ['ses:SendEmail', 'ses:SendRawEmail', 'ses:GetAccount', 'sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:SendMessage', 'dynamodb:PutItem']) {
    assert.ok(deliverer.includes(needed), `deliverer lacks ${needed}: ${deliverer.join()}`);
  }
  const probe = actionsOf(statementsOf(t, base.stack, 'probe'));
  assert.ok(probe.includes('dynamodb:PutItem') && probe.includes('dynamodb:Query'), probe.join());
  assert.ok(!probe.some((a) => a.startsWith('ses:') || a.startsWith('sqs:') || a.startsWith('s3:')), probe.join());
  // The scheduler reads and writes the table, and nothing else.
  const scheduler = actionsOf(statementsOf(t, base.stack, 'scheduler'));
  assert.ok(scheduler.includes('dynamodb:PutItem') && scheduler.includes('dynamodb:Query'), scheduler.join());
  assert.ok(scheduler.every((a) => a.startsWith('dynamodb:')), `scheduler: ${scheduler.join()}`);
  const feedback = actionsOf(statementsOf(t, base.stack, 'feedback'));
  assert.ok(feedback.includes('dynamodb:DeleteItem') && !feedback.some((a) => a.startsWith('ses:') || a.startsWith('sqs:')), feedback.join());
  // Nothing on every resource, but the actions that have no resource-level permissions.
  const unscoped = ['dynamodb:ListStreams', 'ses:GetAccount'];
  for (const name of Object.keys(base.stack.functions) as (keyof BeaconStack['functions'])[]) {
    for (const s of statementsOf(t, base.stack, name)) {
      if (!unscoped.includes(s.Action)) {
        assert.notEqual(s.Resource, '*', `${name}: ${JSON.stringify(s)}`);
      }
    }
  }
  // Mail only from the configured identity, through our configuration set.
  const sending = statementsOf(synth({ sender: 'status@example.com' }).template, base.stack, 'deliverer').find((s: any) =>
    (Array.isArray(s.Action) ? s.Action : [s.Action]).includes('ses:SendEmail'),
  );
  assert.ok(JSON.stringify(sending.Resource).includes('identity/status@example.com'), JSON.stringify(sending.Resource));
  assert.ok(JSON.stringify(sending.Resource).includes('configuration-set/'), JSON.stringify(sending.Resource));
});

test('notifications: relay to the bus, planner on incident changes, deliverer on the job queue, SES feedback', () => {
  // The relay: the stream's second reader, change records only, onto our bus.
  t.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
    EventSourceArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Table'), 'StreamArn'] },
    FunctionName: { Ref: Match.stringLikeRegexp('^relayFunction') },
    BisectBatchOnFunctionError: true,
    FilterCriteria: { Filters: [{ Pattern: JSON.stringify({ dynamodb: { NewImage: { feed: { BOOL: [true] } } } }) }] },
    DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [Match.stringLikeRegexp('^NotificationFailures'), 'Arn'] } } },
  });
  // The planner: incident changes from our bus, retried, with a dead-letter queue.
  t.hasResourceProperties('AWS::Events::Rule', {
    EventBusName: { Ref: Match.stringLikeRegexp('^Events') },
    EventPattern: { source: ['beacon.changes'], 'detail-type': NOTICE_CHANGES },
    Targets: [
      Match.objectLike({
        Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^plannerFunction'), 'Arn'] },
        RetryPolicy: Match.objectLike({ MaximumRetryAttempts: 8 }),
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^NotificationFailures'), 'Arn'] } },
      }),
    ],
  });
  // The job queue: encrypted, TLS only, visibility six times the deliverer's timeout, a DLQ.
  t.hasResourceProperties('AWS::SQS::Queue', {
    VisibilityTimeout: 720,
    SqsManagedSseEnabled: true,
    RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^NotificationFailures'), 'Arn'] }, maxReceiveCount: 5 },
  });
  t.hasResourceProperties('AWS::Lambda::Function', { Timeout: 120, Environment: { Variables: Match.objectLike({ BEACON_DELIVERERS: String(DELIVERERS) }) } });
  // The deliverer: partial batch failures, and no more instances than the rate is shared by.
  t.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
    EventSourceArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^NotificationJobs'), 'Arn'] },
    FunctionName: { Ref: Match.stringLikeRegexp('^delivererFunction') },
    FunctionResponseTypes: ['ReportBatchItemFailures'],
    ScalingConfig: { MaximumConcurrency: DELIVERERS },
  });
  // SES feedback: bounces and complaints of our configuration set, through the default bus.
  t.hasResourceProperties('AWS::SES::ConfigurationSetEventDestination', {
    EventDestination: Match.objectLike({
      Enabled: true,
      MatchingEventTypes: ['bounce', 'complaint'],
      EventBridgeDestination: { EventBusArn: Match.anyValue() },
    }),
  });
  t.hasResourceProperties('AWS::Events::Rule', {
    EventPattern: Match.objectLike({ source: ['aws.ses'], 'detail-type': ['Email Bounced', 'Email Complaint Received'] }),
    Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^feedbackFunction'), 'Arn'] } })],
  });
  // The sender: the configured address, or notifications@ the configured domain.
  t.hasResourceProperties('AWS::Lambda::Function', {
    Environment: { Variables: Match.objectLike({ BEACON_MAIL_FROM: Match.anyValue(), BEACON_SES_CONFIGURATION_SET: Match.anyValue() }) },
  });
  synth({ sender: 'example.com' }).template.hasResourceProperties('AWS::Lambda::Function', {
    Environment: { Variables: Match.objectLike({ BEACON_MAIL_FROM: '"Status" <notifications@example.com>' }) },
  });
});

test("the page's forms post to its own origin: the CDN sends subscriptions* to the API, uncached, vouched for", () => {
  const distribution = Object.values(t.findResources('AWS::CloudFront::Distribution'))[0] as any;
  const config = distribution.Properties.DistributionConfig;
  const behavior = config.CacheBehaviors.find((b: any) => b.PathPattern === 'subscriptions*');
  assert.ok(behavior, 'a subscriptions* behaviour');
  assert.deepEqual(behavior.AllowedMethods.sort(), ['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT']);
  assert.equal(behavior.ViewerProtocolPolicy, 'redirect-to-https');
  const origin = config.Origins.find((o: any) => o.Id === behavior.TargetOriginId);
  assert.equal(origin.CustomOriginConfig.OriginProtocolPolicy, 'https-only');
  assert.equal(origin.OriginCustomHeaders[0].HeaderName, 'x-beacon-origin');
  const api = Object.values(t.findResources('AWS::Lambda::Function')).find(
    (f: any) => f.Properties.Environment.Variables.BEACON_CDN_SECRET,
  ) as any;
  assert.deepEqual(api.Properties.Environment.Variables.BEACON_CDN_SECRET, origin.OriginCustomHeaders[0].HeaderValue);
  t.hasResourceProperties('AWS::CloudFront::OriginRequestPolicy', {
    OriginRequestPolicyConfig: Match.objectLike({
      HeadersConfig: { HeaderBehavior: 'whitelist', Headers: Match.arrayWith(['cloudfront-viewer-address']) },
      QueryStringsConfig: { QueryStringBehavior: 'all' },
      CookiesConfig: { CookieBehavior: 'none' },
    }),
  });
  const origins = (config.Origins as any[]).length;
  assert.equal(origins, 3, 'the bucket, and the API for subscriptions and for the console');
});

test("the console is on the page's origin: admin* goes to the API uncached, with the session cookie and nothing else", () => {
  const distribution = Object.values(t.findResources('AWS::CloudFront::Distribution'))[0] as any;
  const config = distribution.Properties.DistributionConfig;
  const behavior = config.CacheBehaviors.find((b: any) => b.PathPattern === 'admin*');
  assert.ok(behavior, 'an admin* behaviour');
  assert.deepEqual(behavior.AllowedMethods.sort(), ['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT']);
  assert.equal(behavior.ViewerProtocolPolicy, 'redirect-to-https');
  assert.equal(behavior.ResponseHeadersPolicyId, undefined, "the console's own security headers stand");
  const origin = config.Origins.find((o: any) => o.Id === behavior.TargetOriginId);
  assert.equal(origin.CustomOriginConfig.OriginProtocolPolicy, 'https-only');
  t.hasResourceProperties('AWS::CloudFront::OriginRequestPolicy', {
    OriginRequestPolicyConfig: Match.objectLike({
      CookiesConfig: { CookieBehavior: 'whitelist', Cookies: ['beacon_session'] },
    }),
  });
});

test('alarms on every function error and on the failure queue, sent to the alarm topic', () => {
  const alarms = Object.values(t.findResources('AWS::CloudWatch::Alarm')) as any[];
  const metrics = alarms.map((a) => `${a.Properties.Namespace}/${a.Properties.MetricName}`).sort();
  assert.deepEqual(metrics, [
    'AWS/Lambda/Duration',
    ...Array(9).fill('AWS/Lambda/Errors'),
    'AWS/Lambda/Invocations',
    'AWS/Lambda/Invocations',
    'AWS/SQS/ApproximateAgeOfOldestMessage',
    'AWS/SQS/ApproximateNumberOfMessagesVisible',
    'AWS/SQS/ApproximateNumberOfMessagesVisible',
  ]);
  for (const a of alarms) {
    const thresholds: Record<string, number> = { ApproximateAgeOfOldestMessage: 900, Duration: 80_000 };
    assert.equal(a.Properties.Threshold, thresholds[a.Properties.MetricName] ?? 1, a.Properties.MetricName);
    assert.equal(a.Properties.AlarmActions.length, 1);
    assert.match(a.Properties.AlarmActions[0].Ref, /^Alarms/);
  }
  // Encrypted with a key whose policy lets CloudWatch publish (the AWS-managed SNS key cannot).
  t.hasResourceProperties('AWS::SNS::Topic', {
    KmsMasterKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^AlarmsKey'), 'Arn'] },
  });
  t.hasResourceProperties('AWS::KMS::Key', {
    EnableKeyRotation: true,
    KeyPolicy: {
      Statement: Match.arrayWith([
        Match.objectLike({
          Principal: { Service: 'cloudwatch.amazonaws.com' },
          Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        }),
      ]),
    },
  });
  synth({ alarmEmail: 'oncall@example.com' }).template.hasResourceProperties('AWS::SNS::Subscription', {
    Protocol: 'email',
    Endpoint: 'oncall@example.com',
  });
});

test('probes: every minute in this region, a 90 s timeout, their regions told to the API', () => {
  const probe = base.stack.getLogicalId(base.stack.functions.probe.node.defaultChild as any);
  t.hasResourceProperties('AWS::Events::Rule', {
    ScheduleExpression: 'rate(1 minute)',
    Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [probe, 'Arn'] }, RetryPolicy: { MaximumRetryAttempts: 0 } })],
  });
  const functions = t.findResources('AWS::Lambda::Function') as Record<string, any>;
  assert.equal(functions[probe].Properties.Timeout, 90);
  assert.deepEqual(functions[probe].Properties.Environment.Variables.BEACON_PROBE_REGION, { Ref: 'AWS::Region' });
  const api = base.stack.getLogicalId(base.stack.functions.api.node.defaultChild as any);
  // This region alone (CDK folds a one-element join).
  assert.deepEqual(functions[api].Properties.Environment.Variables.BEACON_PROBE_REGIONS, { Ref: 'AWS::Region' });
  // A silent schedule alarms: missing data counts as breaching.
  t.hasResourceProperties('AWS::CloudWatch::Alarm', {
    MetricName: 'Invocations',
    ComparisonOperator: 'LessThanThreshold',
    TreatMissingData: 'breaching',
  });
});

test('the maintenance scheduler: every minute, no retries, a 60 s timeout, the table only, alarmed', () => {
  const scheduler = base.stack.getLogicalId(base.stack.functions.scheduler.node.defaultChild as any);
  const functions = t.findResources('AWS::Lambda::Function') as Record<string, any>;
  const fn = functions[scheduler].Properties;
  assert.equal(fn.Runtime, 'provided.al2023');
  assert.equal(fn.Handler, 'bootstrap');
  assert.deepEqual(fn.Architectures, ['arm64']);
  assert.equal(fn.Timeout, 60);
  assert.match(fn.Description, /^beacon scheduler: /);
  const table = base.stack.getLogicalId(base.stack.table.node.defaultChild as any);
  assert.deepEqual(fn.Environment.Variables, { BEACON_DYNAMODB_TABLE: { Ref: table }, RUST_LOG: 'info' });
  // Its own log group, kept a month.
  const groups = t.findResources('AWS::Logs::LogGroup') as Record<string, any>;
  assert.equal(groups[fn.LoggingConfig.LogGroup.Ref].Properties.RetentionInDays, 30);
  // The schedule: every minute, a missed run not retried (the next one takes it).
  const rules = Object.values(t.findResources('AWS::Events::Rule')).filter((r: any) =>
    r.Properties.Targets.some((target: any) => target.Arn['Fn::GetAtt']?.[0] === scheduler),
  ) as any[];
  assert.equal(rules.length, 1, 'one rule invokes the scheduler');
  assert.equal(rules[0].Properties.ScheduleExpression, 'rate(1 minute)');
  assert.deepEqual(rules[0].Properties.Targets, [
    { Arn: { 'Fn::GetAtt': [scheduler, 'Arn'] }, Id: 'Target0', RetryPolicy: { MaximumRetryAttempts: 0 } },
  ]);
  t.hasResourceProperties('AWS::Lambda::Permission', {
    FunctionName: { 'Fn::GetAtt': [scheduler, 'Arn'] },
    Principal: 'events.amazonaws.com',
  });
  // No stream, queue or bus feeds it: the schedule is its only trigger.
  const mappings = Object.values(t.findResources('AWS::Lambda::EventSourceMapping')).filter(
    (m: any) => m.Properties.FunctionName.Ref === scheduler,
  );
  assert.equal(mappings.length, 0);
  // Alarmed on any error, and on a schedule silent for 10 minutes (missing data breaches).
  const alarms = Object.values(t.findResources('AWS::CloudWatch::Alarm')).filter((a: any) =>
    a.Properties.Dimensions?.some((d: any) => d.Name === 'FunctionName' && d.Value.Ref === scheduler),
  ) as any[];
  const byMetric = Object.fromEntries(alarms.map((a) => [a.Properties.MetricName, a.Properties]));
  assert.deepEqual(Object.keys(byMetric).sort(), ['Errors', 'Invocations']);
  assert.equal(byMetric.Errors.Period, 300);
  assert.equal(byMetric.Errors.ComparisonOperator, 'GreaterThanOrEqualToThreshold');
  assert.equal(byMetric.Invocations.ComparisonOperator, 'LessThanThreshold');
  assert.equal(byMetric.Invocations.Period * byMetric.Invocations.EvaluationPeriods, 600);
  assert.equal(byMetric.Invocations.TreatMissingData, 'breaching');
});

test('probes in more regions: a stack per region writing to the main table, cdk-nag clean', () => {
  const app = new App({
    context: { functionsDir: builtFunctions('arm64'), region: 'eu-west-1', probeRegions: 'us-east-1,ap-southeast-2' },
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const settings = readSettings((key) => app.node.tryGetContext(key));
  const main = new BeaconStack(app, 'Beacon', {
    settings,
    env: { region: 'eu-west-1', account: '111122223333' },
    crossRegionReferences: true,
  });
  const stacks = settings.probeRegions.map(
    (region) =>
      new ProbeStack(app, `BeaconProbes-${region}`, {
        settings,
        env: { region, account: '111122223333' },
        crossRegionReferences: true,
        table: main.table,
        tableRegion: 'eu-west-1',
      }),
  );
  app.synth();
  assert.equal(stacks.length, 2);
  const mainTemplate = Template.fromStack(main);
  const api = main.getLogicalId(main.functions.api.node.defaultChild as any);
  const apiVars = (mainTemplate.findResources('AWS::Lambda::Function') as Record<string, any>)[api].Properties.Environment
    .Variables;
  assert.deepEqual(apiVars.BEACON_PROBE_REGIONS, 'eu-west-1,us-east-1,ap-southeast-2');
  for (const stack of stacks) {
    const template = Template.fromStack(stack);
    const ours = (Object.values(template.findResources('AWS::Lambda::Function')) as any[]).filter(
      (f) => f.Properties.Runtime === 'provided.al2023',
    );
    assert.equal(ours.length, 1);
    const vars = ours[0].Properties.Environment.Variables;
    assert.equal(vars.BEACON_DYNAMODB_REGION, 'eu-west-1');
    assert.equal(vars.BEACON_PROBE_REGION, stack.region);
    assert.ok(vars.BEACON_DYNAMODB_TABLE, 'the main table, carried across regions');
    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(1 minute)' });
    template.resourceCountIs('AWS::CloudWatch::Alarm', 3);
    const grants = Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
      (p: any) => p.Properties.PolicyDocument.Statement,
    );
    assert.ok(
      grants.some((g: any) => (Array.isArray(g.Action) ? g.Action : [g.Action]).includes('dynamodb:PutItem')),
      'the probe writes results to the main table',
    );
  }
});

test('settings are checked before anything is built', () => {
  const read = (context: Record<string, string>) => readSettings((key) => context[key]);
  assert.throws(() => read({ arch: 'sparc' }), SettingsError);
  assert.throws(() => read({ domainName: 'status.example.com' }), /go together/);
  assert.throws(
    () => read({ domainName: 'status.example.com', certificateArn: 'arn:aws:acm:eu-west-1:1:certificate/x' }),
    /us-east-1/,
  );
  assert.throws(() => read({ sender: 'not an address' }), SettingsError);
  assert.equal(read({ pageName: '   ' }).pageName, 'Status', 'blank is unset');
  assert.equal(
    read({ domainName: 'status.example.cn', certificateArn: 'arn:aws-cn:acm:us-east-1:123456789012:certificate/x' })
      .domain?.name,
    'status.example.cn',
  );
  assert.equal(read({}).arch, 'arm64');
  assert.throws(() => read({ probeRegions: 'us-east-1' }), /region too/);
  assert.throws(() => read({ region: 'eu-west-1', probeRegions: 'us-east-1,mars-1' }), /mars-1 is not an AWS region/);
  assert.throws(() => read({ region: 'eu-west-1', probeRegions: 'us-east-1,us-east-1' }), /twice/);
  assert.deepEqual(read({ region: 'eu-west-1', probeRegions: 'eu-west-1, us-east-1' }).probeRegions, ['us-east-1']);
  assert.deepEqual(read({}).probeRegions, []);
  // Functions built for one architecture are refused by a stack deploying the other.
  const app = new App({ context: { functionsDir: builtFunctions('x86_64') } });
  assert.throws(
    () => new BeaconStack(app, 'Mismatch', { settings: readSettings((key) => app.node.tryGetContext(key)) }),
    /built for x86_64, but the stack deploys arm64/,
  );
});
