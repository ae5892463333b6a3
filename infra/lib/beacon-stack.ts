// The whole deployment in one stack: the table and its stream, the site bucket behind
// CloudFront, the HTTP API, the publish function on the stream and a schedule, the
// maintenance scheduler on its schedule, the event bus, SES, alarms. Every permission
// comes from a grant on the resource it opens.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as crypto from 'node:crypto';
import { Aws, CfnElement, CfnOutput, Duration, Fn, RemovalPolicy, Stack, StackProps, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sources from 'aws-cdk-lib/aws-lambda-event-sources';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as ses from 'aws-cdk-lib/aws-ses';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { FunctionName, Settings, functionZip } from './settings';

export interface BeaconStackProps extends StackProps {
  readonly settings: Settings;
}

/** How long function and access logs are kept. */
export const LOG_RETENTION = logs.RetentionDays.ONE_MONTH;
/** How often the publisher rebuilds the page from scratch, repairing anything missed. */
export const RECONCILE_EVERY = Duration.minutes(5);
/** The attribute every change record carries: the stream mapping passes only those. */
export const FEED_ATTRIBUTE = 'feed';
/** Steady requests per second the API accepts, and the burst above that. */
export const API_RATE_LIMIT = 50;
export const API_BURST_LIMIT = 100;
/** Alerting tools' deliveries, throttled apart from the API: a storm gets 429s (the
 * tools retry) before it costs anything else. */
export const HOOKS_RATE_LIMIT = 100;
export const HOOKS_BURST_LIMIT = 200;

/** How often the probe schedule fires in each region (an invocation serves a minute). */
export const PROBE_EVERY = Duration.minutes(1);
/** The probe function's timeout: its 35 s window plus the longest check's timeout, with room to spare. */
export const PROBE_TIMEOUT = Duration.seconds(90);
/** How often the maintenance scheduler runs: reminders, starts and completions are
 * taken within a minute of when they are due. */
export const SCHEDULER_EVERY = Duration.minutes(1);
/** Deliverer instances at once: each keeps to its share of the SES account's rate. */
export const DELIVERERS = 2;
/** The changes that notify subscribers: incident news, and status moves of components
 * (which edits of an incident and of a component also make); and those that alert the
 * team (incidents opened and resolved, monitors changing state). */
export const NOTICE_CHANGES = [
  'incident_reported',
  'incident_updated',
  'incident_resolved',
  'incident_reopened',
  'incident_edited',
  'incident_published',
  'component_changed',
  'monitor_state_changed',
  'maintenance_changed',
  'postmortem_changed',
];

/**
 * The CSP hash of the page's inline stylesheet: askama includes `style.css` with its one
 * trailing newline dropped, and a test on the Rust side checks the page carries exactly
 * that.
 */
export function inlineStyleHash(): string {
  const css = fs.readFileSync(path.join(__dirname, '..', '..', '..', 'static-site', 'templates', 'style.css'), 'utf8');
  const included = css.endsWith('\n') ? css.slice(0, -1) : css;
  return `'sha256-${crypto.createHash('sha256').update(included, 'utf8').digest('base64')}'`;
}

export class BeaconStack extends Stack {
  readonly table: dynamodb.Table;
  readonly siteBucket: s3.Bucket;
  readonly distribution: cloudfront.Distribution;
  readonly api: apigw.HttpApi;
  readonly functions: Record<
    'api' | 'hooks' | 'publish' | 'relay' | 'planner' | 'deliverer' | 'feedback' | 'probe' | 'scheduler',
    lambda.Function
  >;
  readonly eventBus: events.EventBus;
  readonly failures: sqs.Queue;
  /** Delivery jobs, and what the deliverer, relay and planner gave up on. */
  readonly jobs: sqs.Queue;
  readonly notificationFailures: sqs.Queue;
  private readonly settings: Settings;

  constructor(scope: Construct, id: string, props: BeaconStackProps) {
    super(scope, id, props);
    const { settings } = props;
    this.settings = settings;

    // One table for everything (see DESIGN.md): keys pk/sk, no secondary index (every
    // access path is a partition of its own), TTL on `ttl`, a stream of old and new
    // images for the publisher and, later, the notifier.
    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      timeToLiveAttribute: 'ttl',
      stream: dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // Access logs of the site bucket and the CDN.
    const logBucket = new s3.Bucket(this, 'AccessLogs', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      // CloudFront's standard logging writes with ACLs.
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
      lifecycleRules: [{ expiration: Duration.days(90) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.siteBucket = new s3.Bucket(this, 'Site', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      versioned: true,
      // Every publish replaces objects: old versions are only for recovery.
      lifecycleRules: [{ noncurrentVersionExpiration: Duration.days(30), expiredObjectDeleteMarker: true }],
      serverAccessLogsBucket: logBucket,
      serverAccessLogsPrefix: 'site-bucket/',
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const securityHeaders: cloudfront.ResponseSecurityHeadersBehavior = {
        strictTransportSecurity: {
          accessControlMaxAge: Duration.days(730),
          // Not `preload`: that is a promise about the whole registrable domain, which
          // only its owner can make (and meaningless on cloudfront.net).
          includeSubdomains: true,
          override: true,
        },
        // The page's one script is its own file; its one inline stylesheet is allowed
        // by hash, so neither needs an unsafe-inline exception ('self' admits the
        // published theme.css of the team's accent colours).
        contentSecurityPolicy: {
          contentSecurityPolicy: [
            "default-src 'none'",
            "script-src 'self'",
            `style-src 'self' ${inlineStyleHash()}`,
            "img-src 'self' data: https:",
            "connect-src 'self'",
            "form-action 'self'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
          ].join('; '),
          override: true,
        },
        contentTypeOptions: { override: true },
        frameOptions: { frameOption: cloudfront.HeadersFrameOption.DENY, override: true },
        referrerPolicy: {
          referrerPolicy: cloudfront.HeadersReferrerPolicy.STRICT_ORIGIN_WHEN_CROSS_ORIGIN,
          override: true,
        },
    };
    const headers = new cloudfront.ResponseHeadersPolicy(this, 'SecurityHeaders', {
      comment: 'beacon status page: HSTS, CSP, nosniff, no framing',
      securityHeadersBehavior: securityHeaders,
    });
    // Statuspage's public API answers every origin, so status widgets on other sites can
    // read it from the browser; ours does the same for its v2 files (read-only, public).
    const publicApiHeaders = new cloudfront.ResponseHeadersPolicy(this, 'PublicApiHeaders', {
      comment: 'beacon Statuspage v2 JSON: the security headers plus CORS for every origin',
      securityHeadersBehavior: securityHeaders,
      corsBehavior: {
        accessControlAllowCredentials: false,
        accessControlAllowHeaders: ['*'],
        accessControlAllowMethods: ['GET', 'HEAD', 'OPTIONS'],
        accessControlAllowOrigins: ['*'],
        accessControlMaxAge: Duration.hours(1),
        originOverride: true,
      },
    });
    const siteOrigin = origins.S3BucketOrigin.withOriginAccessControl(this.siteBucket);

    const certificate = settings.domain
      ? acm.Certificate.fromCertificateArn(this, 'Certificate', settings.domain.certificateArn)
      : undefined;
    this.distribution = new cloudfront.Distribution(this, 'Cdn', {
      comment: `${settings.pageName} status page`,
      defaultRootObject: 'index.html',
      defaultBehavior: {
        origin: siteOrigin,
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        compress: true,
        cachePolicy: cloudfront.CachePolicy.CACHING_OPTIMIZED,
        responseHeadersPolicy: headers,
      },
      additionalBehaviors: {
        'api/v2/*': {
          origin: siteOrigin,
          viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
          compress: true,
          allowedMethods: cloudfront.AllowedMethods.ALLOW_GET_HEAD_OPTIONS,
          cachePolicy: cloudfront.CachePolicy.CACHING_OPTIMIZED,
          responseHeadersPolicy: publicApiHeaders,
        },
      },
      // Without list permission S3 answers 403 for a missing key: both become the page's 404.
      errorResponses: [403, 404].map((status) => ({
        httpStatus: status,
        responseHttpStatus: 404,
        responsePagePath: '/404.html',
        ttl: Duration.minutes(1),
      })),
      domainNames: settings.domain ? [settings.domain.name] : undefined,
      certificate,
      // Only a custom certificate can be held to a minimum TLS version.
      minimumProtocolVersion: certificate ? cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021 : undefined,
      httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
      enableLogging: true,
      logBucket,
      logFilePrefix: 'cdn/',
    });
    const pageUrl = settings.domain
      ? `https://${settings.domain.name}`
      : `https://${this.distribution.distributionDomainName}`;

    const functionEnvironment = {
      BEACON_DYNAMODB_TABLE: this.table.tableName,
      BEACON_PUBLIC_URL: pageUrl,
      BEACON_PAGE_NAME: settings.pageName,
      BEACON_TIME_ZONE: settings.timeZone,
      RUST_LOG: 'info',
    };
    const architecture = settings.arch === 'arm64' ? lambda.Architecture.ARM_64 : lambda.Architecture.X86_64;
    const rustFunction = (
      name: string,
      binary: FunctionName,
      description: string,
      environment: Record<string, string>,
      timeout: Duration = Duration.seconds(10),
    ) => {
      const logGroup = new logs.LogGroup(this, `${name}Logs`, {
        retention: LOG_RETENTION,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      return new lambda.Function(this, `${name}Function`, {
        description,
        runtime: lambda.Runtime.PROVIDED_AL2023,
        architecture,
        handler: 'bootstrap',
        code: lambda.Code.fromAsset(functionZip(settings, binary)),
        memorySize: 512,
        timeout,
        environment,
        logGroup,
        loggingFormat: lambda.LoggingFormat.JSON,
      });
    };

    // Mail: the configuration set every message goes through (its bounce and complaint
    // events come back to the feedback function), and the identity mail is sent from.
    const configurationSet = new ses.ConfigurationSet(this, 'MailConfiguration', {
      reputationMetrics: true,
      sendingEnabled: true,
      suppressionReasons: ses.SuppressionReasons.BOUNCES_AND_COMPLAINTS,
    });
    if (settings.sender) {
      new ses.EmailIdentity(this, 'MailIdentity', {
        identity:
          settings.sender.kind === 'email'
            ? ses.Identity.email(settings.sender.value)
            : ses.Identity.domain(settings.sender.value),
        configurationSet,
      });
    }
    const pageHost = settings.domain ? settings.domain.name : this.distribution.distributionDomainName;
    const senderAddress =
      settings.sender?.kind === 'email' ? settings.sender.value : `notifications@${settings.sender?.value ?? pageHost}`;
    const mailEnvironment = {
      BEACON_MAIL_FROM: `"${settings.pageName.replace(/["\\]/g, '')}" <${senderAddress}>`,
      BEACON_SES_CONFIGURATION_SET: configurationSet.configurationSetName,
    };
    // Sending is allowed from the configured identity only (any identity of the account
    // when none is configured: then mail is refused by SES until one is verified).
    const identityArn = `arn:${Aws.PARTITION}:ses:${Aws.REGION}:${Aws.ACCOUNT_ID}:identity/${settings.sender?.value ?? '*'}`;
    const configurationSetArn = `arn:${Aws.PARTITION}:ses:${Aws.REGION}:${Aws.ACCOUNT_ID}:configuration-set/${configurationSet.configurationSetName}`;
    const allowSending = (fn: lambda.Function) => {
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['ses:SendEmail', 'ses:SendRawEmail'],
          resources: [identityArn, configurationSetArn],
        }),
      );
      fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['ses:GetAccount'], resources: ['*'] }));
    };

    // CloudFront adds this header to what it forwards to the API, so the API can tell
    // the viewer address it passes on is CloudFront's word: the stack's own id.
    const cdnSecret = Fn.select(2, Fn.split('/', Aws.STACK_ID));

    const api = rustFunction('api', 'api', 'beacon HTTP API: incidents, components, templates, members, subscriptions', {
      ...functionEnvironment,
      ...mailEnvironment,
      BEACON_CDN_SECRET: cdnSecret,
      // The regions monitors may choose: this one and every probe stack's.
      BEACON_PROBE_REGIONS: Fn.join(',', [this.region, ...settings.probeRegions]),
    });
    this.table.grantReadWriteData(api);
    allowSending(api);

    // Alerting tools' deliveries (Alertmanager, Grafana, SNS, generic webhooks) on a
    // function of their own, behind a route with its own throttle, so an alert storm
    // never takes the API's capacity.
    const hooks = rustFunction('hooks', 'hooks', 'beacon hooks: alerting tools open, update and resolve incidents', {
      ...functionEnvironment,
    });
    this.table.grantReadWriteData(hooks);

    const publish = rustFunction(
      'publish',
      'publish',
      'beacon page publisher: renders the status page into the site bucket',
      { ...functionEnvironment, BEACON_SITE_BUCKET: this.siteBucket.bucketName, BEACON_SUBSCRIBE_URL: `${pageUrl}/subscriptions` },
      Duration.seconds(60),
    );
    this.table.grantReadData(publish);
    this.siteBucket.grantReadWrite(publish);

    // Domain events: change records relayed from the table's stream, for the planner
    // and for teams to route to their own targets.
    this.eventBus = new events.EventBus(this, 'Events', { description: 'beacon domain events (incidents, components)' });
    // The public domain events (source `beacon`, docs/events.md) are archived, so a team
    // can replay what its own rules missed.
    this.eventBus.archive('DomainEventArchive', {
      description: 'beacon domain events, for replay',
      eventPattern: { source: ['beacon'] },
      retention: Duration.days(30),
    });

    // Notifications. The stream's second (and last) reader relays change records onto
    // the bus; a rule gives incident changes to the planner, which streams the follow
    // index into jobs; the deliverer takes jobs from the queue (partial batch failures)
    // and sends mail and webhooks; SES's bounces and complaints come back through the
    // default bus to the feedback function.
    this.notificationFailures = new sqs.Queue(this, 'NotificationFailures', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    const delivererTimeout = Duration.minutes(2);
    this.jobs = new sqs.Queue(this, 'NotificationJobs', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // Six times the deliverer's timeout, as Lambda's queue trigger asks.
      visibilityTimeout: Duration.minutes(12),
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: this.notificationFailures, maxReceiveCount: 5 },
    });
    const relay = rustFunction(
      'relay',
      'fanout',
      'beacon relay: change records from the table stream onto the event bus',
      { BEACON_EVENT_BUS: this.eventBus.eventBusName, RUST_LOG: 'info' },
      Duration.seconds(30),
    );
    this.eventBus.grantPutEventsTo(relay);
    this.table.grantStreamRead(relay);
    relay.addEventSource(
      new sources.DynamoEventSource(this.table, {
        startingPosition: lambda.StartingPosition.TRIM_HORIZON,
        batchSize: 100,
        maxBatchingWindow: Duration.seconds(1),
        bisectBatchOnError: true,
        retryAttempts: 10,
        maxRecordAge: Duration.hours(6),
        onFailure: new sources.SqsDlq(this.notificationFailures),
        filters: [lambda.FilterCriteria.filter({ dynamodb: { NewImage: { [FEED_ATTRIBUTE]: { BOOL: [true] } } } })],
      }),
    );
    const planner = rustFunction(
      'planner',
      'fanout',
      'beacon notification planner: incident changes into delivery jobs',
      { ...functionEnvironment, BEACON_JOBS_QUEUE_URL: this.jobs.queueUrl },
      Duration.minutes(5),
    );
    this.table.grantReadWriteData(planner);
    this.jobs.grantSendMessages(planner);
    new events.Rule(this, 'PlanNotices', {
      description: 'Incident changes that tell subscribers go to the planner',
      eventBus: this.eventBus,
      eventPattern: { source: ['beacon.changes'], detailType: NOTICE_CHANGES },
      targets: [
        new targets.LambdaFunction(planner, {
          retryAttempts: 8,
          maxEventAge: Duration.hours(6),
          deadLetterQueue: this.notificationFailures,
        }),
      ],
    });
    const deliverer = rustFunction(
      'deliverer',
      'fanout',
      'beacon notification deliverer: mail through SES, signed webhooks, Slack, Teams, Discord',
      {
        ...functionEnvironment,
        ...mailEnvironment,
        BEACON_JOBS_QUEUE_URL: this.jobs.queueUrl,
        BEACON_DELIVERERS: String(DELIVERERS),
      },
      delivererTimeout,
    );
    this.table.grantReadWriteData(deliverer);
    // Retries go back on the queue.
    this.jobs.grantSendMessages(deliverer);
    allowSending(deliverer);
    deliverer.addEventSource(
      // One job (up to 100 subscribers) per invocation: its sends at this instance's
      // share of the SES rate, or its slowest webhooks, fit well within the timeout.
      new sources.SqsEventSource(this.jobs, {
        batchSize: 1,
        reportBatchItemFailures: true,
        maxConcurrency: DELIVERERS,
      }),
    );
    const feedback = rustFunction(
      'feedback',
      'fanout',
      'beacon mail feedback: permanent bounces and complaints suppress the address',
      functionEnvironment,
      Duration.seconds(30),
    );
    this.table.grantReadWriteData(feedback);
    const defaultBus = events.EventBus.fromEventBusName(this, 'DefaultBus', 'default');
    configurationSet.addEventDestination('Feedback', {
      destination: ses.EventDestination.eventBus(defaultBus),
      events: [ses.EmailSendingEvent.BOUNCE, ses.EmailSendingEvent.COMPLAINT],
    });
    new events.Rule(this, 'MailFeedback', {
      description: 'SES bounces and complaints of our configuration set go to the feedback function',
      eventPattern: {
        source: ['aws.ses'],
        detailType: ['Email Bounced', 'Email Complaint Received'],
        resources: [configurationSetArn],
      },
      targets: [
        new targets.LambdaFunction(feedback, {
          retryAttempts: 8,
          maxEventAge: Duration.hours(24),
          deadLetterQueue: this.notificationFailures,
        }),
      ],
    });
    // Probes from this region: every minute the schedule starts one invocation that runs
    // the checks due here for the next 35 seconds (other regions: see ProbeStack).
    const probe = rustFunction(
      'probe',
      'probe',
      'beacon prober: runs the monitor checks due in this region and closes their rounds',
      { ...functionEnvironment, BEACON_PROBE_REGION: this.region },
      PROBE_TIMEOUT,
    );
    this.table.grantReadWriteData(probe);
    new events.Rule(this, 'ProbeSchedule', {
      description: 'Runs the monitor checks due in this region, every minute',
      schedule: events.Schedule.rate(PROBE_EVERY),
      // A missed minute is not retried: the next invocation picks up every due round.
      targets: [new targets.LambdaFunction(probe, { retryAttempts: 0 })],
    });

    // Planned maintenance: every minute the scheduler creates the occurrences recurring
    // maintenance owes ahead, and takes every step due (reminders, starts, completions).
    // It reads nothing but the table's name (recurring windows carry their own zone), and
    // touches nothing but the table: the changes it writes reach the page and subscribers
    // through the stream like any other.
    const scheduler = rustFunction(
      'scheduler',
      'scheduler',
      'beacon scheduler: starts, completes and reminds of planned maintenance, and creates recurring occurrences ahead',
      { BEACON_DYNAMODB_TABLE: this.table.tableName, RUST_LOG: 'info' },
      Duration.seconds(60),
    );
    this.table.grantReadWriteData(scheduler);
    new events.Rule(this, 'MaintenanceSchedule', {
      description: 'Runs the maintenance scheduler: reminders, starts, completions and recurring occurrences, every minute',
      schedule: events.Schedule.rate(SCHEDULER_EVERY),
      // A missed minute is not retried: the next run takes whatever is due by then, and
      // version guards make each step happen exactly once however runs overlap.
      targets: [new targets.LambdaFunction(scheduler, { retryAttempts: 0 })],
    });

    this.functions = { api, hooks, publish, relay, planner, deliverer, feedback, probe, scheduler };

    // Batches the publisher could not handle after its retries, kept for two weeks.
    this.failures = new sqs.Queue(this, 'PublishFailures', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    publish.addEventSource(
      new sources.DynamoEventSource(this.table, {
        startingPosition: lambda.StartingPosition.TRIM_HORIZON,
        batchSize: 100,
        maxBatchingWindow: Duration.seconds(1),
        bisectBatchOnError: true,
        retryAttempts: 5,
        maxRecordAge: Duration.hours(1),
        onFailure: new sources.SqsDlq(this.failures),
        // Only change records wake the publisher, not every item written.
        filters: [lambda.FilterCriteria.filter({ dynamodb: { NewImage: { [FEED_ATTRIBUTE]: { BOOL: [true] } } } })],
      }),
    );
    new events.Rule(this, 'Reconcile', {
      description: 'Rebuilds the status page from scratch, repairing anything a missed change left',
      schedule: events.Schedule.rate(RECONCILE_EVERY),
      targets: [new targets.LambdaFunction(publish, { retryAttempts: 2 })],
    });

    // The HTTP API in front of the api function, throttled, with CORS for the page only.
    const accessLogs = new logs.LogGroup(this, 'ApiAccessLogs', {
      retention: LOG_RETENTION,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.api = new apigw.HttpApi(this, 'Api', {
      description: 'beacon API',
      createDefaultStage: false,
      defaultIntegration: new HttpLambdaIntegration('ApiIntegration', api, {
        payloadFormatVersion: apigw.PayloadFormatVersion.VERSION_2_0,
      }),
      // No CORS: browsers reach the API's public pages through the page's own origin
      // (the CDN's `subscriptions*` behaviour below).
    });
    // The subscription endpoints behind the page's forms, on the page's own origin (the
    // page's CSP allows forms to post only there). Never cached; the viewer's address is
    // passed on for rate limits, vouched for by the header only CloudFront adds.
    const apiForwarding = new cloudfront.OriginRequestPolicy(this, 'ApiForwarding', {
      comment: 'beacon subscription endpoints: query strings, form headers and the viewer address, never Host',
      queryStringBehavior: cloudfront.OriginRequestQueryStringBehavior.all(),
      headerBehavior: cloudfront.OriginRequestHeaderBehavior.allowList(
        'content-type',
        'accept',
        'accept-language',
        'cloudfront-viewer-address',
      ),
      cookieBehavior: cloudfront.OriginRequestCookieBehavior.none(),
    });
    this.distribution.addBehavior(
      'subscriptions*',
      new origins.HttpOrigin(Fn.select(2, Fn.split('/', this.api.apiEndpoint)), {
        protocolPolicy: cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
        customHeaders: { 'x-beacon-origin': cdnSecret },
      }),
      {
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        allowedMethods: cloudfront.AllowedMethods.ALLOW_ALL,
        cachePolicy: cloudfront.CachePolicy.CACHING_DISABLED,
        originRequestPolicy: apiForwarding,
        responseHeadersPolicy: headers,
      },
    );

    // The admin console on the page's own origin too: its session cookie (and only it)
    // goes to the API, nothing is cached, and the console's pages carry their own
    // security headers (their CSP differs from the page's, so none is laid over them).
    const consoleForwarding = new cloudfront.OriginRequestPolicy(this, 'ConsoleForwarding', {
      comment: 'beacon admin console: query strings, form headers, the viewer address and the session cookie, never Host',
      queryStringBehavior: cloudfront.OriginRequestQueryStringBehavior.all(),
      headerBehavior: cloudfront.OriginRequestHeaderBehavior.allowList(
        'content-type',
        'accept',
        'accept-language',
        'cloudfront-viewer-address',
      ),
      cookieBehavior: cloudfront.OriginRequestCookieBehavior.allowList('beacon_session'),
    });
    this.distribution.addBehavior(
      'admin*',
      new origins.HttpOrigin(Fn.select(2, Fn.split('/', this.api.apiEndpoint)), {
        protocolPolicy: cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
        customHeaders: { 'x-beacon-origin': cdnSecret },
      }),
      {
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        allowedMethods: cloudfront.AllowedMethods.ALLOW_ALL,
        cachePolicy: cloudfront.CachePolicy.CACHING_DISABLED,
        originRequestPolicy: consoleForwarding,
      },
    );

    const hooksRoute = 'POST /api/v1/hooks/{secret}';
    this.api.addRoutes({
      path: '/api/v1/hooks/{secret}',
      methods: [apigw.HttpMethod.POST],
      integration: new HttpLambdaIntegration('HooksIntegration', hooks, {
        payloadFormatVersion: apigw.PayloadFormatVersion.VERSION_2_0,
      }),
    });
    const stage = new apigw.HttpStage(this, 'ApiStage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: API_RATE_LIMIT, burstLimit: API_BURST_LIMIT },
      accessLogSettings: {
        destination: new apigw.LogGroupLogDestination(accessLogs),
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            ip: '$context.identity.sourceIp',
            time: '$context.requestTime',
            method: '$context.httpMethod',
            path: '$context.path',
            status: '$context.status',
            latency: '$context.responseLatency',
            error: '$context.integrationErrorMessage',
          }),
        ),
      },
    });
    // RouteSettings is a free-form map in CloudFormation: its keys are written as such.
    (stage.node.defaultChild as apigw.CfnStage).routeSettings = {
      [hooksRoute]: { ThrottlingRateLimit: HOOKS_RATE_LIMIT, ThrottlingBurstLimit: HOOKS_BURST_LIMIT },
    };


    // Alarms: any function error, schedules gone silent, and any batch the publisher gave up on.
    const alarmAction = new cwActions.SnsAction(alarmTopic(this, settings, 'beacon alarms', 'Encrypts the beacon alarm topic'));
    for (const [name, fn] of Object.entries(this.functions)) {
      new cloudwatch.Alarm(this, `${name}Errors`, {
        alarmDescription: `The ${name} function failed`,
        metric: fn.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }).addAlarmAction(alarmAction);
    }
    probeAlarms(this, probe, alarmAction);
    // Its errors alarm above; a schedule gone quiet fails silently otherwise, and
    // maintenance would neither start nor end on the page.
    new cloudwatch.Alarm(this, 'SchedulerSilent', {
      alarmDescription:
        'The maintenance scheduler has not run for 10 minutes: planned maintenance is not started, completed or reminded of',
      metric: scheduler.metricInvocations({ period: Duration.minutes(5), statistic: 'Sum' }),
      threshold: 1,
      evaluationPeriods: 2,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    }).addAlarmAction(alarmAction);
    new cloudwatch.Alarm(this, 'PublishFailuresWaiting', {
      alarmDescription: 'The publisher gave up on a batch of changes; the page may be stale until the next reconcile',
      metric: this.failures.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5) }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }).addAlarmAction(alarmAction);

    new cloudwatch.Alarm(this, 'NotificationFailuresWaiting', {
      alarmDescription:
        'Notification work was given up on (a job, a change event or a relay batch): some subscribers may not have been told',
      metric: this.notificationFailures.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5) }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }).addAlarmAction(alarmAction);
    new cloudwatch.Alarm(this, 'NotificationBacklog', {
      alarmDescription: 'Delivery jobs have waited over 15 minutes: notifications are late',
      metric: this.jobs.metricApproximateAgeOfOldestMessage({ period: Duration.minutes(5) }),
      threshold: 900,
      evaluationPeriods: 2,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }).addAlarmAction(alarmAction);

    new CfnOutput(this, 'PageUrl', { value: pageUrl, description: 'The public status page' });
    new CfnOutput(this, 'ApiUrl', { value: this.api.apiEndpoint, description: 'The API (paths under /api/v1)' });
    new CfnOutput(this, 'TableName', { value: this.table.tableName, description: 'For `beacon token create`' });
    new CfnOutput(this, 'SiteBucketName', { value: this.siteBucket.bucketName });
    new CfnOutput(this, 'EventBusName', {
      value: this.eventBus.eventBusName,
      description: 'Domain events (source `beacon`, docs/events.md) for your own rules',
    });
    new CfnOutput(this, 'EventBusArn', { value: this.eventBus.eventBusArn });
    new CfnOutput(this, 'MailConfigurationSet', { value: configurationSet.configurationSetName });
    new CfnOutput(this, 'DistributionDomainName', {
      value: this.distribution.distributionDomainName,
      description: 'Point the custom domain (CNAME or alias) here',
    });

    this.acknowledgeFindings(logBucket);
  }

  /** cdk-nag AwsSolutions findings that do not apply, each acknowledged with its reason. */
  private acknowledgeFindings(logBucket: s3.Bucket): void {
    Validations.of(logBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This is the access-log bucket itself; logging it into itself would loop.',
    });
    Validations.of(this.distribution).acknowledge(
      {
        id: 'AwsSolutions-CFR1',
        reason: 'A public status page must be readable from every country, especially during an outage.',
      },
      {
        id: 'AwsSolutions-CFR2',
        reason:
          'The page is static, public and read-only: there is nothing for a WAF to protect, and CloudFront absorbs floods.',
      },
    );
    if (!this.settings.domain) {
      Validations.of(this.distribution).acknowledge({
        id: 'AwsSolutions-CFR4',
        reason:
          'Without a custom domain CloudFront serves its default certificate, which cannot be held to TLS 1.2; with one, TLSv1.2_2021 is set.',
      });
    }
    Validations.of(this.failures).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is the dead-letter destination of the stream mapping.',
    });
    Validations.of(this.api).acknowledge({
      id: 'AwsSolutions-APIG4',
      reason: 'The API authenticates every request itself (bearer tokens and roles); its public routes are public by design.',
    });
    for (const fn of Object.values(this.functions)) {
      Validations.of(fn).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason: 'AWSLambdaBasicExecutionRole only lets the function write its own logs.',
      });
    }
    const table = this.getLogicalId(this.table.node.defaultChild as CfnElement);
    const site = this.getLogicalId(this.siteBucket.node.defaultChild as CfnElement);
    Validations.of(this.functions.api).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${table}.Arn>/index/*]`,
      reason: "The grant covers the table's indexes (it has none today); nothing outside this table.",
    });
    for (const name of ['hooks', 'planner', 'deliverer', 'feedback', 'probe', 'scheduler'] as const) {
      Validations.of(this.functions[name]).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${table}.Arn>/index/*]`,
        reason: "The grant covers the table's indexes (it has none today); nothing outside this table.",
      });
    }
    for (const name of ['api', 'deliverer'] as const) {
      Validations.of(this.functions[name]).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: "ses:GetAccount (the account's sending rate) has no resource-level permissions.",
      });
      if (!this.settings.sender) {
        Validations.of(this.functions[name]).acknowledge({
          id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ses:<AWS::Region>:<AWS::AccountId>:identity/*]',
          reason:
            'No sender is configured: sending is allowed from any verified identity of this account, in our configuration set only. Configure -c sender=… to narrow it to one.',
        });
      }
    }
    Validations.of(this.functions.relay).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'dynamodb:ListStreams, which the stream event source needs, has no resource-level permissions.',
    });
    Validations.of(this.notificationFailures).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is the dead-letter destination of the notification queue, rules and stream mapping.',
    });
    Validations.of(this.functions.publish).acknowledge(
      {
        id: `AwsSolutions-IAM5[Resource::<${table}.Arn>/index/*]`,
        reason: "The grant covers the table's indexes (it has none today); nothing outside this table.",
      },
      ...['s3:GetBucket*', 's3:GetObject*', 's3:List*', 's3:DeleteObject*', 's3:Abort*'].map((action) => ({
        id: `AwsSolutions-IAM5[Action::${action}]`,
        reason: 'The publisher reads, writes and deletes the page objects of the site bucket, and only there.',
      })),
      {
        id: `AwsSolutions-IAM5[Resource::<${site}.Arn>/*]`,
        reason: 'Every object of the site bucket is part of the page the publisher owns.',
      },
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'dynamodb:ListStreams, which the stream event source needs, has no resource-level permissions.',
      },
    );
  }
}

/** The alarms of a probe function: any failure (a result that could not be stored), and
 * invocations running so long that rounds come late. */
export function probeAlarms(scope: Construct, probe: lambda.Function, action: cloudwatch.IAlarmAction): void {
  new cloudwatch.Alarm(scope, 'ProbesLate', {
    alarmDescription: 'Probe invocations run close to their timeout: checks are slow or too many, and rounds come late',
    metric: probe.metricDuration({ period: Duration.minutes(5), statistic: 'Maximum' }),
    threshold: PROBE_TIMEOUT.toMilliseconds() - 10_000,
    evaluationPeriods: 3,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  }).addAlarmAction(action);
  new cloudwatch.Alarm(scope, 'ProbesSilent', {
    alarmDescription: 'The probe schedule has not run for 10 minutes: monitors are not checked from this region',
    metric: probe.metricInvocations({ period: Duration.minutes(5), statistic: 'Sum' }),
    threshold: 1,
    evaluationPeriods: 2,
    comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
    treatMissingData: cloudwatch.TreatMissingData.BREACHING,
  }).addAlarmAction(action);
}

/** The topic alarms go to (mailed to `alarmEmail` when set), under a key of its own:
 * CloudWatch cannot publish to a topic under the AWS-managed SNS key, whose policy
 * cannot be changed to let it in. */
export function alarmTopic(scope: Construct, settings: Settings, displayName: string, keyDescription: string): sns.Topic {
  const key = new kms.Key(scope, 'AlarmsKey', {
    description: keyDescription,
    enableKeyRotation: true,
    removalPolicy: RemovalPolicy.DESTROY,
  });
  key.addToResourcePolicy(
    new iam.PolicyStatement({
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      resources: ['*'],
    }),
  );
  const topic = new sns.Topic(scope, 'Alarms', { displayName, enforceSSL: true, masterKey: key });
  if (settings.alarmEmail) {
    topic.addSubscription(new subscriptions.EmailSubscription(settings.alarmEmail));
  }
  return topic;
}
