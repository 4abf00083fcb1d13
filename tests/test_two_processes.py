"""Two real app processes on one database: a write through one is found through the other."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

import pytest
from conftest import api_token

LESSONS = Path(sys.executable).with_name("lessons")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def call(base: str, method: str, path: str, body=None, token: str = ""):
    data = json.dumps(body).encode() if body is not None else None
    request = Request(base + path, data=data, method=method,
                      headers={"Content-Type": "application/json",
                               "Authorization": f"Bearer {token or TOKEN[base]}"})
    with urlopen(request, timeout=120) as response:
        return json.loads(response.read())


TOKEN: dict[str, str] = {}  # each process's base URL → an API token on its database


@pytest.fixture
def other_process(app, backend, tmp_path):
    """`lessons run` in a process of its own, on the test database."""
    port = free_port()
    env = {**os.environ, "LESSONS_DATABASE_URL": backend.url,
           "LESSONS_INSTANCE_PATH": str(tmp_path / "other-instance")}
    server = subprocess.Popen([str(LESSONS), "run", "--port", str(port), "--threads", "4"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}/api/v1"
    TOKEN[base] = api_token(app)
    deadline = time.monotonic() + 120
    while True:
        try:
            call(base, "GET", "/lessons?per_page=1")
            break
        except HTTPError:
            server.terminate()  # answering, but refusing: its log says why
            raise RuntimeError(server.communicate(timeout=30)[1].decode()) from None
        except (URLError, ConnectionError):
            if server.poll() is not None or time.monotonic() > deadline:
                server.terminate()
                raise RuntimeError(server.communicate(timeout=30)[1].decode()) from None
            time.sleep(0.2)
    yield base
    server.terminate()
    server.wait(timeout=30)
    server.stderr.close()


def wait_for_index(base: str) -> None:
    """Search answers 503 while the process's warm-up thread builds its index."""
    deadline = time.monotonic() + 120
    while True:
        try:
            call(base, "GET", "/search?q=warm+up")
            return
        except HTTPError as error:
            if error.code != 503 or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_writes_through_one_process_are_found_through_the_other(client, other_process):
    wait_for_index(other_process)
    lesson = client.post("/api/v1/lessons", json={
        "title": "Scaffolding inspection skipped before the storm",
        "what_happened": "High winds moved an uninspected scaffold; work stopped for a week."}
    ).get_json()
    hits = call(other_process, "GET", "/search?q=temporary+works+not+checked+before+bad+weather")
    assert hits["items"][0]["id"] == lesson["id"]

    client.patch(f"/api/v1/lessons/{lesson['id']}", json={"title": "Crane booked too late"})
    hits = call(other_process, "GET", "/search?q=Crane+booked+too+late&limit=1")
    assert hits["items"][0]["title"] == "Crane booked too late"

    client.delete(f"/api/v1/lessons/{lesson['id']}")
    hits = call(other_process, "GET", "/search?q=Crane+booked+too+late&limit=50")
    assert lesson["id"] not in [hit["id"] for hit in hits["items"]]

    # And the other way round.
    other = call(other_process, "POST", "/lessons", {
        "title": "Interpreters not booked for the public meeting",
        "what_happened": "Residents who speak little English could not follow the consultation."})
    found = client.get("/api/v1/search?q=language+support+missing+at+community+event").get_json()
    assert found["items"][0]["id"] == other["id"]
