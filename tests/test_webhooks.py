"""Outbound webhooks: signed bodies to a real receiver on loopback, retried with backoff until
they get through once, marked failing after a day, and never aimed inside the network.

Events come from the real dispatcher and go out through the real sender; the receiver is an
http.server on a free loopback port, which answers what each test tells it to.
"""

import hashlib
import hmac
import json
import re
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import Api, audit_rows, signed_in
from jsonschema import Draft202012Validator
from sqlalchemy import select, update

from lessons.models import Delivery, Theme, Webhook, utcnow
from push import http
from push.dispatch import dispatch
from push.send import send_due
from web.queue import push_settings


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that refuses our certificate: the test says what it expects


class Receiver:
    """A real HTTP server on loopback (over TLS with `tls`): records every POST, answers
    `statuses` in turn, then `status`."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.posts: list[tuple[dict[str, str], bytes, int]] = []  # headers, body, answer
        self.statuses: list[int] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                answer = receiver.statuses.pop(0) if receiver.statuses else receiver.status
                receiver.posts.append((dict(self.headers), body, answer))
                self.send_response(answer)
                if answer in (301, 302, 307):
                    self.send_header("Location", "http://127.0.0.1:9/elsewhere")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        if tls is not None:  # the handshake on the handler's thread, where a failure ends it
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True,
                                                 do_handshake_on_connect=False)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def bodies(self) -> list[dict]:
        return [json.loads(body) for _, body, _ in self.posts]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


@pytest.fixture
def app(backend, make_app):
    return make_app(DATABASE_URL=backend.url, WEBHOOK_ALLOW_PRIVATE=True, RETRY_SECONDS=0.05,
                    BASE_URL="http://lessons.test")


def add_webhook(admin, url: str, *events: str) -> str:
    """Register a webhook through the admin page; its secret, shown once."""
    page = admin.post("/integrations/webhooks", data={"url": url, "events": list(events)})
    assert page.status_code == 201, page.text
    return re.search(r'id="webhook-secret"[^>]* value="([^"]+)"', page.text).group(1)


def run_push(app) -> int:
    """Dispatch the audit log, then send what is due; how many deliveries went out."""
    sessions, settings = app.extensions["lessons.db"][1], push_settings(app)
    with sessions() as session:
        dispatch(session, settings)
    return send_due(sessions, settings)


def deliveries(app) -> list[Delivery]:
    with app.extensions["lessons.db"][1]() as session:
        rows = list(session.scalars(select(Delivery).order_by(Delivery.id)))
        session.expunge_all()
        return rows


def test_events_are_signed_and_match_the_openapi_document(app, receiver):
    admin = signed_in(app)
    api = Api(admin)
    secret = add_webhook(admin, receiver.url, "lesson.approved", "action.created")
    run_push(app)  # what the set-up audited goes first: only the changes below are news
    lesson = api.lesson("Supplier kept our data locked in", "No export clause in the contract.",
                        status="approved")
    api.post("actions", lesson_id=lesson["id"], description="Add an export clause")
    api.lesson("Still in review", "Submitted, not approved.")  # not an event

    assert run_push(app) == 2
    events = {sent["event"]: sent for sent in signed_events(admin, receiver, secret)}
    assert set(events) == {"lesson.approved", "action.created"}
    link = f"http://lessons.test/lessons/{lesson['id']}"
    assert events["lesson.approved"]["data"]["lesson"] == {
        "id": lesson["id"], "title": "Supplier kept our data locked in", "url": link}
    assert events["action.created"]["data"]["action"]["description"] == "Add an export clause"
    assert [row.target for row in audit_rows(app, "webhook_create")] == ["webhook 1"]


def signed_events(admin, receiver: Receiver, secret: str) -> list[dict]:
    """The bodies the receiver got, each checked: signed with `secret` (which it never
    shows), its headers, and valid against the OpenAPI document's schema for its event."""
    spec = admin.get("/api/v1/openapi.json").get_json()
    events = []
    for headers, body, _ in receiver.posts:
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["X-Lessons-Signature"], expected)
        sent = json.loads(body)
        assert headers["X-Lessons-Event"] == sent["event"]
        assert headers["X-Lessons-Delivery"] == sent["id"]
        assert abs(int(headers["X-Lessons-Timestamp"]) - time.time()) < 60
        assert headers["Content-Type"] == "application/json"
        assert secret not in body.decode() and secret not in json.dumps(headers)
        schema = spec["webhooks"][sent["event"]]["post"]["requestBody"]["content"][
            "application/json"]["schema"]
        Draft202012Validator.check_schema(schema)
        Draft202012Validator(schema).validate(sent)
        events.append(sent)
    return events


def test_a_risk_raised_at_a_kickoff_is_a_signed_event(app, receiver):
    admin = signed_in(app)
    api = Api(admin)
    secret = add_webhook(admin, receiver.url, "risk.raised")
    project = api.project("Depot upgrade")
    lesson = api.lesson("Crane vendor shipped late", "Six weeks late.", status="approved")
    run_push(app)
    decided = admin.post(f"/api/v1/projects/{project['id']}/briefing/decisions",
                         json={"lesson_id": lesson["id"], "decision": "risk"})
    assert decided.status_code in (200, 201), decided.get_json()
    assert run_push(app) == 1
    [sent] = signed_events(admin, receiver, secret)
    assert sent["event"] == "risk.raised"
    assert sent["data"] == {
        "lesson": {"id": lesson["id"], "title": "Crane vendor shipped late",
                   "url": f"http://lessons.test/lessons/{lesson['id']}"},
        "project": {"id": project["id"],
                    "url": f"http://lessons.test/projects/{project['id']}"}}


def test_a_theme_named_by_the_pmo_is_a_signed_event(app, receiver):
    admin = signed_in(app)
    with app.extensions["lessons.db"][1]() as session:
        session.add(Theme(id=4, model="test", keywords=["crane", "vendor"], centroid=b""))
        session.commit()
    secret = add_webhook(admin, receiver.url, "theme.changed")
    run_push(app)
    renamed = admin.patch("/api/v1/themes/4", json={"name": "Cranes delivered late"})
    assert renamed.status_code == 200, renamed.get_json()
    assert run_push(app) == 1
    [sent] = signed_events(admin, receiver, secret)
    assert sent["event"] == "theme.changed"
    assert sent["data"] == {"theme": {"id": 4, "name": "Cranes delivered late",
                                      "url": "http://lessons.test/themes/4"}}


def test_a_failing_receiver_is_retried_with_backoff_and_gets_the_event_once(app, receiver):
    admin = signed_in(app)
    add_webhook(admin, receiver.url, "lesson.approved")
    run_push(app)
    Api(admin).lesson("Permit late", "The council took eight weeks.", status="approved")
    receiver.statuses = [500, 500]

    assert run_push(app) == 0
    first = deliveries(app)[0]
    assert (first.status, first.attempts) == ("pending", 1) and "500" in first.last_error
    time.sleep(0.06)
    assert run_push(app) == 0
    second = deliveries(app)[0]
    assert second.attempts == 2
    assert second.next_attempt_at - first.next_attempt_at >= timedelta(seconds=0.09)
    time.sleep(0.11)
    assert run_push(app) == 1
    assert run_push(app) == 0
    answered = [(json.loads(body)["id"], status) for _, body, status in receiver.posts]
    assert [status for _, status in answered] == [500, 500, 200]
    assert len({delivery_id for delivery_id, _ in answered}) == 1  # the same delivery each time
    assert deliveries(app)[0].status == "sent"


def test_after_a_day_the_webhook_is_marked_failing_and_an_admin_retries(app, receiver):
    admin = signed_in(app)
    add_webhook(admin, receiver.url, "lesson.approved")
    run_push(app)
    Api(admin).lesson("Permit late", "The council took eight weeks.", status="approved")
    receiver.status = 503
    assert run_push(app) == 0
    with app.extensions["lessons.db"][1]() as session:  # a day of tries has gone by
        session.execute(update(Delivery).values(created_at=utcnow() - timedelta(hours=25),
                                                next_attempt_at=utcnow()))
        session.commit()
    assert run_push(app) == 0
    failed = deliveries(app)[0]
    assert failed.status == "failed" and "503" in failed.last_error

    page = admin.get("/integrations/").text
    assert "failing since" in page and "503" in page
    receiver.status = 200
    assert admin.post(f"/integrations/deliveries/{failed.id}/retry").status_code == 303
    assert run_push(app) == 1
    assert deliveries(app)[0].status == "sent" and receiver.posts[-1][2] == 200
    assert admin.post("/integrations/webhooks/1/reset").status_code == 303
    assert "failing since" not in admin.get("/integrations/").text
    assert [row.target for row in audit_rows(app, "delivery_retry")] == [f"delivery {failed.id}"]
    assert audit_rows(app, "webhook_reset")


def test_removing_a_webhook_drops_what_it_has_not_sent(app, receiver):
    admin = signed_in(app)
    add_webhook(admin, receiver.url, "lesson.approved")
    run_push(app)
    Api(admin).lesson("Permit late", "The council took eight weeks.", status="approved")
    receiver.status = 500
    run_push(app)
    assert admin.post("/integrations/webhooks/1/delete").status_code == 303
    assert deliveries(app) == []
    time.sleep(0.06)
    run_push(app)
    assert len(receiver.posts) == 1  # the first try only


def test_only_admins_manage_integrations(app):
    pmo = signed_in(app, "pmo")
    assert pmo.get("/integrations/").status_code == 403
    refused = pmo.post("/integrations/webhooks", data={"url": "http://127.0.0.1/",
                                                       "events": ["lesson.approved"]})
    assert refused.status_code == 403
    with app.extensions["lessons.db"][1]() as session:
        assert session.scalars(select(Webhook)).all() == []


PRIVATE_URLS = ["http://127.0.0.1:8080/hook", "http://10.1.2.3/hook",
                "http://169.254.169.254/latest/meta-data/", "http://[::1]/hook",
                "http://localhost/hook", "http://[::ffff:127.0.0.1]/hook",
                "http://[2002:7f00:1::1]/hook", "http://0.0.0.0/hook", "http://100.64.0.1/hook",
                "http://2130706433/hook"]  # 127.0.0.1 as one number
NOT_HTTP = ["ftp://hooks.example.org/", "file:///etc/passwd", "javascript:alert(1)",
            "hooks.example.org/path"]


def test_private_addresses_and_other_schemes_are_refused(backend, make_app):
    app = make_app(DATABASE_URL=backend.url)
    admin = signed_in(app)
    for url in PRIVATE_URLS + NOT_HTTP:
        for path, form in (("/integrations/webhooks", {"events": ["lesson.approved"]}),
                           ("/integrations/chat-hooks", {"kind": "slack"})):
            page = admin.post(path, data={"url": url, **form})
            assert page.status_code == 422, (url, path)
            words = "Only http(s) URLs" if url in NOT_HTTP else "private or loopback range"
            assert words in page.text, (url, path)
    with app.extensions["lessons.db"][1]() as session:
        assert session.scalars(select(Webhook)).all() == []
    assert http.check_url("https://93.184.216.34/hook", allow_private=False)


def test_the_guard_holds_at_send_time_and_follows_no_redirect(receiver, monkeypatch):
    with pytest.raises(http.Refused, match="private or loopback"):
        http.post_json(receiver.url, b"{}", {}, 5, allow_private=False)
    assert receiver.posts == []

    receiver.status = 302
    with pytest.raises(http.PostFailed, match="302"):
        http.post_json(receiver.url, b"{}", {}, 5, allow_private=True)
    assert len(receiver.posts) == 1  # the redirect is not followed

    # The connection goes to the address checked, whatever a second lookup would say: a
    # rebinding name answers the receiver's address once, then one where nobody listens.
    lookups = rebinding_name(monkeypatch)
    port = receiver.server.server_address[1]
    receiver.status = 200
    assert http.post_json(f"http://hooks.rebind.test:{port}/x", b"{}", {}, 5, True) == 200
    assert receiver.posts[-1][0]["Host"] == f"hooks.rebind.test:{port}"
    assert lookups == ["hooks.rebind.test"]  # looked up once, and that answer was used


def name_loopback(monkeypatch) -> None:
    """Resolve *.rebind.test to 127.0.0.1, as a name the test's certificate is for."""
    real = http.socket.getaddrinfo
    monkeypatch.setattr(http.socket, "getaddrinfo", lambda host, *args, **kwargs: real(
        "127.0.0.1" if host.endswith(".rebind.test") else host, *args, **kwargs))


def rebinding_name(monkeypatch) -> list[str]:
    """Resolve *.rebind.test to 127.0.0.1 the first time and to 127.0.0.3 (nothing listens
    there) after: a client that looked the name up again would miss the receiver."""
    real, asked = http.socket.getaddrinfo, []

    def lookup(host, *args, **kwargs):
        if host.endswith(".rebind.test"):
            asked.append(host)
            host = "127.0.0.1" if len(asked) == 1 else "127.0.0.3"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(http.socket, "getaddrinfo", lookup)
    return asked


def test_https_checks_the_certificate_against_the_hosts_name(tmp_path, monkeypatch):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is missing")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", key, "-out", cert, "-subj", "/CN=hooks.rebind.test",
                    "-addext", "subjectAltName=DNS:hooks.rebind.test"],
                   check=True, capture_output=True)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    receiver = Receiver(tls)
    try:
        name_loopback(monkeypatch)
        url = f"https://hooks.rebind.test:{receiver.server.server_address[1]}/hook"
        with pytest.raises(ssl.SSLCertVerificationError):  # self-signed: trusted by nobody
            http.post_json(url, b"{}", {}, 5, allow_private=True)
        trusting = ssl.create_default_context(cafile=cert)
        monkeypatch.setattr(http.ssl, "create_default_context", lambda: trusting)
        assert http.post_json(url, b"{}", {}, 5, allow_private=True) == 200
        assert receiver.posts[-1][0]["Host"] == url.split("/")[2]
        with pytest.raises(ssl.SSLCertVerificationError, match="match"):  # another name's
            http.post_json(url.replace("hooks.", "other."), b"{}", {}, 5, allow_private=True)
    finally:
        receiver.close()
