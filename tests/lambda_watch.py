"""Each Lambda function binary under `cargo lambda watch`, invoked with a real event
against the moto server, and its effect checked in the AWS services:

- `api` gets an API Gateway HTTP API (v2) request that reports an incident: the
  incident is stored in the DynamoDB table.
- `publish` gets the DynamoDB stream record of that change, exactly as the table wrote
  it, then the reconcile schedule's event: the page objects are in the S3 bucket.
- `api` also takes a subscribe form post: the confirmation mail goes out through SES.
- `probe` gets the schedule's event after the API created a monitor of a local server
  that answers 503: the check runs and the monitor's incident is opened in the table.
- `hooks` gets Alertmanager's delivery to an integration's hook URL, as API Gateway
  routes it: one incident opens, and the same delivery again is a repeat.
- `fanout` gets, in turn, what each of its four deployments is given: the stream batch
  (relay: the change records and domain events reach the bus, whose rules route them to
  queues here), the
  change event from the bus (planner: a job on the SQS queue), the queue's message
  (deliverer: the notification mail goes out through SES), and SES's permanent-bounce
  event (feedback: the address's subscription is removed).

Run by tests/run.sh after sourcing tests/moto.sh (BEACON_TEST_MOTO_URL) with BEACON_BIN
set to the `beacon` binary (it creates the table and the first token).
"""

import datetime
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import zoneinfo

import boto3

ROOT = pathlib.Path(__file__).resolve().parent.parent
MOTO = os.environ["BEACON_TEST_MOTO_URL"]
REGION = "us-east-1"
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
}


def client(service):
    return boto3.client(
        service,
        endpoint_url=MOTO,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def invoke(port, function, event):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(event, f)
        path = f.name
    try:
        done = subprocess.run(
            ["cargo", "lambda", "invoke", function, "--invoke-port", str(port), "--data-file", path],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        os.unlink(path)
    if done.returncode != 0:
        sys.exit(f"invoking {function} failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout)


def form_event(path, form):
    event = http_event(None, "POST", path, {})
    event["headers"] = {
        "content-type": "application/x-www-form-urlencoded",
        "host": "k3x9q2abcd.execute-api.us-east-1.amazonaws.com",
        "x-forwarded-proto": "https",
    }
    event["body"] = "&".join(f"{k}={v}" for k, v in form.items())
    return event


def sent_mail():
    import urllib.request
    with urllib.request.urlopen(f"{MOTO}/moto-api/data.json") as response:
        data = json.load(response)
    return data.get("ses", {}).get("RawMessage", [])


def receive_all(sqs, url):
    bodies = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return bodies
        for m in got:
            bodies.append(m)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def failing_server():
    """A loopback server answering 503 to everything, on a thread of its own."""
    import http.server
    import threading

    class Failing(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(503)
            self.end_headers()
            self.wfile.write(b"down")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Failing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def http_event(token, method, path, body):
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {
            "accept": "application/json",
            "authorization": f"Bearer {token}",
            "content-type": "application/json",
            "host": "k3x9q2abcd.execute-api.us-east-1.amazonaws.com",
            "x-forwarded-proto": "https",
        },
        "requestContext": {
            "accountId": "111122223333",
            "apiId": "k3x9q2abcd",
            "domainName": "k3x9q2abcd.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "k3x9q2abcd",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.24",
                "userAgent": "lambda-watch-test",
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": "30/Nov/2026:12:00:00 +0000",
            "timeEpoch": int(time.time() * 1000),
        },
        "isBase64Encoded": False,
        "body": json.dumps(body),
    }


def main():
    suffix = uuid.uuid4().hex[:8]
    table, bucket = f"beacon-watch-{suffix}", f"beacon-watch-{suffix}"
    env = {**os.environ, **AWS_ENV}

    # The table (created by the binary, as an operator would) and the first owner token.
    made = subprocess.run(
        [os.environ["BEACON_BIN"], "--no-demo", "--store", "dynamodb", "--dynamodb-table", table,
         "--dynamodb-endpoint", MOTO, "--dynamodb-create-table",
         "token", "create", "--name", "Watch", "--role", "owner"],
        env=env, capture_output=True, text=True, timeout=120,
    )
    if made.returncode != 0:
        sys.exit(f"creating the table and token failed:\n{made.stderr}")
    token = made.stdout.strip().splitlines()[-1]
    s3 = client("s3")
    s3.create_bucket(Bucket=bucket)
    dynamodb = client("dynamodb")
    # Notifications: a verified sender domain, the job queue, the bus with a rule that
    # routes change events to a queue of our own (where the planner's rule would be).
    sender_domain = f"watch-{suffix}.example"
    client("sesv2").create_email_identity(EmailIdentity=sender_domain)
    sqs = client("sqs")
    jobs_url = sqs.create_queue(QueueName=f"beacon-jobs-{suffix}")["QueueUrl"]
    routed_url = sqs.create_queue(QueueName=f"beacon-routed-{suffix}")["QueueUrl"]
    routed_arn = sqs.get_queue_attributes(QueueUrl=routed_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = f"beacon-bus-{suffix}"
    events = client("events")
    events.create_event_bus(Name=bus)
    events.put_rule(Name=f"plan-{suffix}", EventBusName=bus,
                    EventPattern=json.dumps({"source": ["beacon.changes"], "detail-type": ["incident_reported"]}))
    events.put_targets(Rule=f"plan-{suffix}", EventBusName=bus, Targets=[{"Id": "planner", "Arn": routed_arn}])
    # A team's own rule: every domain event to its queue.
    team_url = sqs.create_queue(QueueName=f"beacon-team-{suffix}")["QueueUrl"]
    team_arn = sqs.get_queue_attributes(QueueUrl=team_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=f"team-{suffix}", EventBusName=bus, EventPattern=json.dumps({"source": ["beacon"]}))
    events.put_targets(Rule=f"team-{suffix}", EventBusName=bus, Targets=[{"Id": "team", "Arn": team_arn}])

    variables = ",".join(
        f"{k}={v}"
        for k, v in {
            **AWS_ENV,
            "BEACON_DYNAMODB_TABLE": table,
            "BEACON_DYNAMODB_ENDPOINT": MOTO,
            "BEACON_S3_ENDPOINT": MOTO,
            "BEACON_SITE_BUCKET": bucket,
            "BEACON_PUBLIC_URL": "https://status.example.com",
            "BEACON_PAGE_NAME": "Watch",
            "BEACON_EVENT_BUS": bus,
            "BEACON_EVENTBRIDGE_ENDPOINT": MOTO,
            "BEACON_JOBS_QUEUE_URL": jobs_url,
            "BEACON_SQS_ENDPOINT": MOTO,
            "BEACON_SES_ENDPOINT": MOTO,
            "BEACON_MAIL_FROM": f"Watch <status@{sender_domain}>",
            "BEACON_PROBE_REGIONS": REGION,
            "BEACON_PROBE_ALLOW_LOOPBACK": "true",
            "BEACON_PROBE_WINDOW_SECONDS": "1",
        }.items()
    )
    # One emulator per function: each serves its package's binary on its own port.
    ports, watches = {}, []
    try:
        for function, package in (
            ("api", "beacon-function-api"),
            ("hooks", "beacon-function-hooks"),
            ("publish", "beacon-function-publish"),
            ("fanout", "beacon-function-fanout"),
            ("probe", "beacon-function-probe"),
            ("scheduler", "beacon-function-scheduler"),
        ):
            ports[function] = free_port()
            log = tempfile.NamedTemporaryFile("w+", suffix=".log", prefix=f"beacon-lambda-watch-{function}-")
            process = subprocess.Popen(
                ["cargo", "lambda", "watch", "-p", package, "--invoke-port", str(ports[function]),
                 "--ignore-changes", "--env-vars", variables],
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
            watches.append((process, log))
        deadline = time.time() + 120
        for (process, log), port in zip(watches, ports.values()):
            while True:
                with socket.socket() as s:
                    if s.connect_ex(("127.0.0.1", port)) == 0:
                        break
                if process.poll() is not None or time.time() > deadline:
                    log.seek(0)
                    sys.exit(f"cargo lambda watch did not start:\n{log.read()}")
                time.sleep(0.5)

        # A visitor subscribes through the page's form: the confirmation goes out by SES.
        visitor = f"visitor-{suffix}@example.com"
        response = invoke(ports["api"], "api", form_event("/subscriptions", {"email": visitor}))
        assert response["statusCode"] == 200 and "Check your inbox" in response["body"], response
        confirmation = [m for m in sent_mail() if visitor in m["destinations"]]
        assert len(confirmation) == 1 and "/subscriptions/confirm?token=" in confirmation[0]["raw_data"].replace("=\r\n", ""), confirmation
        print("api: POST /subscriptions (form) -> 200, confirmation mailed through SES")

        # An admin's email subscriber, confirmed at once.
        reader = f"reader-{suffix}@example.com"
        response = invoke(ports["api"], "api", http_event(token, "POST", "/api/v1/subscribers", {
            "kind": "email", "target": reader,
        }))
        assert response["statusCode"] == 201, response

        title = f"Checkout errors {suffix}"
        response = invoke(ports["api"], "api", http_event(token, "POST", "/api/v1/incidents", {
            "title": title, "impact": "minor", "message": "We are looking into it.",
        }))
        assert response["statusCode"] == 201, response
        incident = json.loads(response["body"])
        stored = dynamodb.get_item(TableName=table, Key={"pk": {"S": f"INC#{incident['id']}"}, "sk": {"S": "A"}})
        assert title in stored.get("Item", {}).get("data", {}).get("S", ""), stored
        print(f"api: POST /api/v1/incidents -> 201, incident {incident['id']} stored in {table}")

        # The change records, as the table's stream would carry them.
        changes = dynamodb.scan(
            TableName=table,
            FilterExpression="#feed = :true",
            ExpressionAttributeNames={"#feed": "feed"},
            ExpressionAttributeValues={":true": {"BOOL": True}},
        )["Items"]
        assert changes, "no change record was written"
        records = [{
            "eventID": uuid.uuid4().hex,
            "eventName": "INSERT",
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": REGION,
            "dynamodb": {
                "ApproximateCreationDateTime": int(time.time()),
                "Keys": {"pk": item["pk"], "sk": item["sk"]},
                "NewImage": item,
                "SequenceNumber": str(100000000000000000000 + n),
                "SizeBytes": 400,
                "StreamViewType": "NEW_AND_OLD_IMAGES",
            },
            "eventSourceARN": f"arn:aws:dynamodb:{REGION}:111122223333:table/{table}/stream/2026-11-30T00:00:00.000",
        } for n, item in enumerate(changes)]
        outcome = invoke(ports["publish"], "publish", {"Records": records})
        assert outcome == {"batchItemFailures": []}, outcome
        index = s3.get_object(Bucket=bucket, Key="index.html")["Body"].read().decode()
        assert title in index, "the incident is not on the published index"
        page = s3.get_object(Bucket=bucket, Key=f"incidents/{incident['id']}.html")
        assert page["ContentType"].startswith("text/html"), page["ContentType"]
        summary = json.loads(s3.get_object(Bucket=bucket, Key="api/v2/summary.json")["Body"].read())
        assert [i["name"] for i in summary["incidents"]] == [title], summary["incidents"]
        print(f"publish: stream batch of {len(records)} change records -> page in s3://{bucket}")

        # fanout as the relay: the same stream batch onto the bus.
        outcome = invoke(ports["fanout"], "fanout", {"Records": records})
        assert outcome == {"batchItemFailures": []}, outcome
        routed = receive_all(sqs, routed_url)
        assert len(routed) == 1, routed
        event = json.loads(routed[0]["Body"])
        assert event["detail"]["incident_id"] == incident["id"], event
        team = [json.loads(m["Body"]) for m in receive_all(sqs, team_url)]
        created = [e for e in team if e["detail-type"] == "incident.created"]
        assert len(created) == 1 and created[0]["detail"]["incident"]["title"] == title, team
        assert all(e["source"] == "beacon" and e["detail"]["version"] == 1 for e in team), team
        print("fanout (relay): stream batch -> incident_reported and the domain event incident.created on the bus")

        # fanout as the planner: the bus event becomes a job.
        invoke(ports["fanout"], "fanout", event)
        jobs = receive_all(sqs, jobs_url)
        assert len(jobs) == 1, jobs
        print("fanout (planner): change event -> a job on the queue")

        # fanout as the deliverer: the queue's message, as the SQS trigger gives it.
        outcome = invoke(ports["fanout"], "fanout", {"Records": [{
            "messageId": jobs[0]["MessageId"], "receiptHandle": jobs[0]["ReceiptHandle"], "body": jobs[0]["Body"],
            "attributes": {}, "messageAttributes": {}, "md5OfBody": jobs[0]["MD5OfBody"],
            "eventSource": "aws:sqs", "eventSourceARN": f"arn:aws:sqs:{REGION}:111122223333:beacon-jobs-{suffix}",
            "awsRegion": REGION,
        }]})
        assert outcome == {"batchItemFailures": []}, outcome
        notices = [m for m in sent_mail() if reader in m["destinations"]]
        assert len(notices) == 1 and title in notices[0]["raw_data"], notices
        assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in notices[0]["raw_data"]
        print("fanout (deliverer): job -> notification mailed through SES")

        # fanout as the feedback handler: SES's permanent bounce removes the subscription.
        bounce = (ROOT / "tests/fixtures/ses/eventbridge-permanent-bounce.json").read_text()
        invoke(ports["fanout"], "fanout", json.loads(bounce.replace("recipient@example.com", reader)))
        response = invoke(ports["api"], "api", http_event(token, "GET", "/api/v1/subscribers/count", None))
        assert json.loads(response["body"])["count"] == 1, response  # the visitor, still unconfirmed
        print("fanout (feedback): permanent bounce -> the address is suppressed")

        schedule = json.loads((ROOT / "tests/fixtures/events/scheduled-reconcile.json").read_text())
        assert invoke(ports["publish"], "publish", schedule) == {"batchItemFailures": []}
        keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
        assert {"index.html", "404.html", "history.atom", "api/v2/status.json"} <= keys, keys
        print(f"publish: reconcile schedule event -> {len(keys)} objects in the bucket")

        # probe: a monitor of a local server that fails, checked on the schedule's event.
        failing = failing_server()
        response = invoke(ports["api"], "api", http_event(token, "POST", "/api/v1/monitors", {
            "name": "Checkout", "check": {"kind": "http", "url": f"http://127.0.0.1:{failing.server_port}/health"},
            "thresholds": {"confirm_after": 1, "recover_after": 1},
        }))
        assert response["statusCode"] == 201, response
        assert json.loads(response["body"])["monitor"]["regions"] == [REGION], response
        probe_schedule = json.loads((ROOT / "tests/fixtures/events/scheduled-probe.json").read_text())
        outcome = invoke(ports["probe"], "probe", probe_schedule)
        # A round that closes right at a round boundary can be followed, within the same
        # window, by the next one: one check or two, but one incident either way.
        assert outcome["checked"] >= 1 and outcome["opened"] == 1, outcome
        response = invoke(ports["api"], "api", http_event(token, "GET", "/api/v1/incidents", None))
        titles = [i["title"] for i in json.loads(response["body"])["items"]]
        assert "Checkout is down" in titles, titles
        failing.shutdown()
        print("probe: schedule event -> the failing check opened the monitor's incident")

        # An Alertmanager integration (through the API), and its hook called the way
        # Alertmanager calls it (through the hooks function, as API Gateway routes it).
        response = invoke(ports["api"], "api", http_event(token, "POST", "/api/v1/integrations", {
            "name": "Prometheus", "kind": "alertmanager",
        }))
        assert response["statusCode"] == 201, response
        hook = json.loads(response["body"])["hook_path"]
        with open(ROOT / "tests" / "fixtures" / "integrations" / "alertmanager-firing.json") as f:
            firing = json.load(f)
        delivery = http_event("", "POST", hook, firing)
        del delivery["headers"]["authorization"]
        response = invoke(ports["hooks"], "hooks", delivery)
        assert response["statusCode"] == 202, response
        answer = json.loads(response["body"])
        assert answer["outcome"] == "opened" and len(answer["incidents"]) == 1, answer
        response = invoke(ports["hooks"], "hooks", delivery)
        assert json.loads(response["body"])["outcome"] == "repeat", response
        # The API function does not serve hooks; the hooks function serves nothing else.
        assert invoke(ports["api"], "api", delivery)["statusCode"] == 404
        listing = http_event(token, "GET", "/api/v1/incidents", None)
        assert invoke(ports["hooks"], "hooks", listing)["statusCode"] == 404
        response = invoke(ports["api"], "api", http_event(token, "GET", f"/api/v1/incidents/{answer['incidents'][0]}", None))
        assert json.loads(response["body"])["source"] == "webhook", response
        print("hooks: POST /api/v1/hooks/… (Alertmanager's payload) -> 202 opened, then a repeat; the API serves no hooks")

        # scheduler: a maintenance entered in Berlin time (the API resolves the zone from
        # its compiled-in database), already due, started by the schedule's event; and a
        # weekly series whose occurrences the scheduler keeps ahead.
        now = datetime.datetime.now(datetime.timezone.utc)
        berlin = zoneinfo.ZoneInfo("Europe/Berlin")
        local = lambda t: t.astimezone(berlin).strftime("%Y-%m-%dT%H:%M:%S")
        response = invoke(ports["api"], "api", http_event(token, "POST", "/api/v1/maintenances", {
            "title": "Database upgrade", "message": "We upgrade the database.",
            "starts_at": local(now - datetime.timedelta(minutes=1)),
            "ends_at": local(now + datetime.timedelta(hours=1)), "time_zone": "Europe/Berlin",
        }))
        assert response["statusCode"] == 201, response
        maintenance = json.loads(response["body"])
        offset = berlin.utcoffset(now.replace(tzinfo=None)).total_seconds()
        assert maintenance["window"]["start_offset_seconds"] == offset, maintenance["window"]
        response = invoke(ports["api"], "api", http_event(token, "POST", "/api/v1/maintenance-series", {
            "title": "Patching", "message": "Weekly patching.", "recurrence": "FREQ=WEEKLY;BYDAY=SU",
            "first_start": local(now + datetime.timedelta(days=1)), "time_zone": "Europe/Berlin",
            "duration_minutes": 60,
        }))
        assert response["statusCode"] == 201, response
        assert len(json.loads(response["body"])["occurrences"]) == 3, response
        outcome = invoke(ports["scheduler"], "scheduler", probe_schedule)
        assert outcome["steps"] == [f"{maintenance['id']} Start"], outcome
        assert invoke(ports["scheduler"], "scheduler", probe_schedule)["steps"] == [], "a step is taken once"
        response = invoke(ports["api"], "api", http_event(token, "GET", f"/api/v1/maintenances/{maintenance['id']}", None))
        assert json.loads(response["body"])["status"] == "in_progress", response
        print("scheduler: schedule event -> the due maintenance started, once; a Berlin series has 3 occurrences ahead")
    except BaseException:
        for _, log in watches:
            log.seek(0)
            print(log.read()[-4000:], file=sys.stderr)
        raise
    finally:
        for process, _ in watches:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=20)
            except ProcessLookupError:
                pass  # already gone
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
    print("lambda watch: every function passed")


if __name__ == "__main__":
    main()
