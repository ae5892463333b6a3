// Probes from one more region: the probe function on its schedule, writing to the table
// in the main stack's region, with the same alarms (on a topic of this region: alarms
// can only act in their own).

import { Duration, RemovalPolicy, Stack, StackProps, Validations } from 'aws-cdk-lib';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { LOG_RETENTION, PROBE_EVERY, PROBE_TIMEOUT, alarmTopic, probeAlarms } from './beacon-stack';
import { Settings, functionZip } from './settings';

export interface ProbeStackProps extends StackProps {
  readonly settings: Settings;
  /** The main stack's table, in its region. */
  readonly table: dynamodb.ITable;
  readonly tableRegion: string;
}

export class ProbeStack extends Stack {
  readonly probe: lambda.Function;

  constructor(scope: Construct, id: string, props: ProbeStackProps) {
    super(scope, id, props);
    const { settings } = props;
    const logGroup = new logs.LogGroup(this, 'probeLogs', {
      retention: LOG_RETENTION,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.probe = new lambda.Function(this, 'probeFunction', {
      description: `beacon prober: runs the monitor checks due in ${this.region} and closes their rounds`,
      runtime: lambda.Runtime.PROVIDED_AL2023,
      architecture: settings.arch === 'arm64' ? lambda.Architecture.ARM_64 : lambda.Architecture.X86_64,
      handler: 'bootstrap',
      code: lambda.Code.fromAsset(functionZip(settings, 'probe')),
      memorySize: 512,
      timeout: PROBE_TIMEOUT,
      environment: {
        BEACON_DYNAMODB_TABLE: props.table.tableName,
        BEACON_DYNAMODB_REGION: props.tableRegion,
        BEACON_PROBE_REGION: this.region,
        RUST_LOG: 'info',
      },
      logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
    });
    props.table.grantReadWriteData(this.probe);
    new events.Rule(this, 'ProbeSchedule', {
      description: `Runs the monitor checks due in ${this.region}, every minute`,
      schedule: events.Schedule.rate(PROBE_EVERY),
      targets: [new targets.LambdaFunction(this.probe, { retryAttempts: 0 })],
    });

    const action = new cwActions.SnsAction(
      alarmTopic(this, settings, `beacon alarms (${this.region})`, `Encrypts the beacon alarm topic of ${this.region}`),
    );
    new cloudwatch.Alarm(this, 'probeErrors', {
      alarmDescription: `The probe function in ${this.region} failed`,
      metric: this.probe.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }).addAlarmAction(action);
    probeAlarms(this, this.probe, action);

    Validations.of(this.probe).acknowledge(
      {
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason: 'AWSLambdaBasicExecutionRole only lets the function write its own logs.',
      },
      {
        id: 'AwsSolutions-IAM5[Resource::<ExportsReader8B249524.Beacon-TableArn>/index/*]',
        reason: "The grant covers the main table's indexes (it has none today); nothing outside that table.",
      },
    );
  }
}
