"""A Marathon client that gets the real API right (see shared/reference/marathon/API-NOTES.md).

- Directly (`http://master:8080`) or through DC/OS's Admin Router (`<dcos>/service/marathon`)
  with `Authorization: token=<ACS token>`; a 401 (HTML, not JSON) logs in once more, then fails.
- apply = `PUT /v2/apps/{id}?partialUpdate=false` (a plain PUT merges and never removes a
  field), then a bounded wait for its deployment, then a check of the app itself: a deployment
  that vanished may have been cancelled.
- 409 (locked by a deployment): wait for the blocking deployments and retry; cancel them only
  when asked to force. 422: Marathon's details as field errors. 503: retried.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    stop_after_attempt,
    wait_exponential,
)

from ngp import debug_log
from ngp.errors import NgpError
from ngp.marathon import rules

if TYPE_CHECKING:
    import httpx  # imported by the first client: a run with no Marathon app never needs it

DEPLOY_TIMEOUT = 600.0
MAX_POLL = 5.0  # seconds between two looks at a deployment, at most
BACKOFF = wait_exponential(multiplier=0.2, max=5)  # 0.2, 0.4, 0.8 ... s between tries, 5 at most


class MarathonError(NgpError):
    """Marathon refused or failed a request."""


class Unreachable(MarathonError):
    """No answer at all: a wrong address, no route (no VPN), or a cluster not up yet."""


def _details(body: Any) -> str:
    """Marathon's error body as one line: `details` may be missing, a string, or a list of
    {path, errors} with indices written as (n)."""
    if not isinstance(body, dict):
        return str(body)[:200]
    message = str(body.get("message", ""))
    details = body.get("details")
    if isinstance(details, list):
        fields = "; ".join(f"{d.get('path', '?')}: {', '.join(map(str, d.get('errors', [])))}"
                           for d in details if isinstance(d, dict))
        return f"{message} ({fields})" if fields else message
    if details:
        return f"{message} ({details})"
    return message


class Marathon:
    """One Marathon, reached at `url`. `login` returns a fresh ACS token (or None when no
    authentication is needed); it is called once at first use and once more on a 401.
    A run gets its clients from `ngp.marathon.endpoints.Marathons`, one per URL."""

    def __init__(self, url: str, *, login: Callable[[], str | None] | None = None,
                 timeout: float = 30.0, poll: float = 0.25, force: bool = False) -> None:
        self.url = url.rstrip("/")
        self.force = force  # cancel deployments that lock an app (`ngp up --force`)
        self._login = login
        self._token: str | None = None
        self._logged_in = False
        self._poll = poll
        import httpx

        self._http = httpx.Client(timeout=timeout)
        self.calls = 0

    def close(self) -> None:
        self._http.close()

    # -- transport ---------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        if self._login and not self._logged_in:
            self._token, self._logged_in = self._login(), True
            debug_log.secret(self._token)
        return {"Authorization": f"token={self._token}"} if self._token else {}

    def request(self, method: str, path: str, *, params: dict | None = None,
                body: Any = None, retries: int = 5) -> httpx.Response:
        """One call; re-login once on 401, retry 503 and lost connections with backoff."""
        response = self._send(method, path, params, body, retries)
        if response.status_code == 401 and self._login:
            self._logged_in = False  # the token expired: log in again, once
            response = self._send(method, path, params, body, retries)
        if response.status_code == 401:
            raise MarathonError(f"Marathon at {self.url} refused the credentials (401)",
                                hint="Set DCOS_ACS_TOKEN, or DCOS_UID and DCOS_PASSWORD, "
                                "to valid ones.")
        return response

    def _send(self, method: str, path: str, params: dict | None, body: Any,
              retries: int) -> httpx.Response:
        """The call, tried again while the connection is lost or Marathon answers 503 (no
        leader yet, or a timeout): at most retries more times, the last 503 returned."""

        import httpx

        attempt = 0

        def once() -> httpx.Response:
            nonlocal attempt
            self.calls += 1
            attempt += 1
            url, headers, t0 = f"{self.url}{path}", self._headers(), time.monotonic()
            try:
                response = self._http.request(method, url, params=params, json=body,
                                              headers=headers)
            except httpx.TransportError as exc:
                debug_log.http(method, url, params, headers, type(exc).__name__,
                               time.monotonic() - t0, attempt)
                raise
            debug_log.http(method, url, params, headers, response.status_code,
                           time.monotonic() - t0, attempt)
            return response

        def give_up(attempts: RetryCallState) -> httpx.Response:
            assert attempts.outcome is not None  # tenacity gives up only after an attempt
            if attempts.outcome.failed:
                raise Unreachable(f"cannot reach Marathon at {self.url}: "
                                  f"{attempts.outcome.exception()}",
                                  hint="Check the URL, the VPN, and that the cluster is up.",
                                  ) from None
            return attempts.outcome.result()

        retrying = Retrying(
            retry=retry_if_exception_type(httpx.TransportError)
            | retry_if_result(lambda response: response.status_code == 503),
            stop=stop_after_attempt(retries + 1), wait=BACKOFF, retry_error_callback=give_up)
        return retrying(once)

    @staticmethod
    def _path(app_id: str) -> str:
        return "/v2/apps/" + quote(app_id.strip("/"))

    @staticmethod
    def _body(response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            return response.text

    def _fail(self, what: str, response: httpx.Response, app_id: str) -> MarathonError:
        return MarathonError(f"{what} failed with {response.status_code}: "
                             f"{_details(self._body(response))}", where=f"marathon app "
                             f"{app_id}")

    # -- reads -------------------------------------------------------------------------

    def info(self) -> dict[str, Any] | None:
        """Marathon's /v2/info (name, version, leader), or None while it does not answer
        yet (no leader, Admin Router starting, a load balancer with no healthy node)."""
        try:
            response = self.request("GET", "/v2/info", retries=0)
        except Unreachable:
            return None
        if response.status_code != 200:
            return None
        body = self._body(response)
        return body if isinstance(body, dict) else None

    def get_app(self, app_id: str) -> dict[str, Any] | None:
        response = self.request("GET", self._path(app_id))
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._fail("reading the app", response, app_id)
        return response.json()["app"]

    def list_apps(self, label: str | None = None) -> list[dict[str, Any]]:
        """Every app, or those a label selector picks (`NGP_ENV==dev`; Marathon's selector
        syntax: `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, bare `k`; comma-separated
        selectors must all hold)."""
        response = self.request("GET", "/v2/apps", params={"label": label} if label else None)
        if response.status_code != 200:
            raise self._fail("listing apps", response, "*")
        return response.json()["apps"]

    def deployments(self) -> list[dict[str, Any]]:
        response = self.request("GET", "/v2/deployments")
        if response.status_code != 200:
            raise self._fail("listing deployments", response, "*")
        return response.json()

    # -- writes ------------------------------------------------------------------------

    def apply(self, app: dict[str, Any], *, force: bool | None = None,
              deadline: float = DEPLOY_TIMEOUT) -> dict[str, Any]:
        """Make the app exactly `app` (complete replacement) and wait until it runs."""
        force = self.force if force is None else force
        errors = rules.id_errors(app.get("id"))
        if errors:
            raise MarathonError(f"invalid app id {app.get('id')!r}: {'; '.join(errors)}",
                                where=f"marathon app {app.get('id')}")
        # What Marathon would refuse, refused before sending (its own wording).
        invalid = rules.shape_errors(app) or rules.semantic_errors(app)
        if invalid:
            raise MarathonError(f"invalid definition: {_details({'details': invalid})}",
                                where=f"marathon app {app['id']}",
                                hint="Fix the module's settings for this app.")
        app_id = rules.absolute(app["id"])
        give_up = time.monotonic() + deadline
        while True:
            response = self.request("PUT", self._path(app_id),
                                    params={"partialUpdate": "false"} | (
                                        {"force": "true"} if force else {}), body=app)
            if response.status_code != 409:
                break
            blocking = [d["id"] for d in (self._body(response) or {}).get("deployments", [])]
            if force:
                for dep in blocking:
                    self.request("DELETE", f"/v2/deployments/{dep}", params={"force": "true"})
                continue
            for dep in blocking:  # wait for what holds the lock, then try again
                self._wait_gone(dep, app_id, give_up)
        if response.status_code not in (200, 201):
            raise self._fail("deploying", response, app_id)
        result = response.json()
        deployment = response.headers.get("Marathon-Deployment-Id") or result.get("deploymentId")
        self._wait_gone(deployment, app_id, give_up)
        return self._check(app_id, result.get("version"), give_up)

    def _pause(self, since: float, give_up: float) -> None:
        """Wait before asking again: a tenth of the time waited so far (at least the poll
        interval, at most MAX_POLL), so a ten-minute deployment is asked a few dozen times,
        not every quarter second, and is seen finished at most about 10% late."""
        now = time.monotonic()
        time.sleep(max(0.0, min(max(self._poll, (now - since) / 10), MAX_POLL, give_up - now)))

    def _wait_gone(self, deployment: str | None, app_id: str, give_up: float) -> None:
        since = time.monotonic()
        while deployment and any(d["id"] == deployment for d in self.deployments()):
            if time.monotonic() > give_up:
                raise MarathonError(
                    f"deployment {deployment} did not finish in time", where=f"marathon app "
                    f"{app_id}", hint="See why in Marathon (GET /v2/queue, the app's last "
                    "task failure): too few agents for its constraints, or failing health "
                    "checks. `ngp up` again waits again.")
            self._pause(since, give_up)

    def _check(self, app_id: str, version: str | None, give_up: float) -> dict[str, Any]:
        """A deployment that is gone may have been cancelled: check the app itself."""
        since = time.monotonic()
        while True:
            app = self.get_app(app_id)
            if app is None:
                raise MarathonError("the app vanished after its deployment (deleted or "
                                    "rolled back by someone else?)", where=f"marathon app "
                                    f"{app_id}")
            wanted = app["instances"]
            healthy = not app.get("healthChecks") or app.get("tasksHealthy", 0) >= wanted
            current = version is None or app.get("version", "") >= version
            if not app.get("deployments") and current and \
                    app.get("tasksRunning", 0) >= wanted and healthy:
                return app
            if not current:
                raise MarathonError(f"the app is at version {app.get('version')}, not "
                                    f"{version}: its deployment was replaced or cancelled",
                                    where=f"marathon app {app_id}",
                                    hint="Run `ngp up` again to apply it.")
            if time.monotonic() > give_up:
                raise MarathonError(f"{app.get('tasksRunning', 0)} of {wanted} tasks running "
                                    f"({app.get('tasksHealthy', 0)} healthy) at the deadline",
                                    where=f"marathon app {app_id}")
            self._pause(since, give_up)

    def delete(self, app_id: str, *, deadline: float = DEPLOY_TIMEOUT) -> None:
        """Delete the app (gone already is success); DELETE forces by default in Marathon."""
        response = self.request("DELETE", self._path(app_id))
        if response.status_code == 404:
            return
        if response.status_code != 200:
            raise self._fail("deleting", response, app_id)
        deployment = response.headers.get("Marathon-Deployment-Id") or \
            response.json().get("deploymentId")
        self._wait_gone(deployment, app_id, time.monotonic() + deadline)


def acs_login(dcos_url: str, uid: str, password: str) -> str:
    """A fresh ACS token from DC/OS's login endpoint."""
    import httpx

    url, t0 = f"{dcos_url.rstrip('/')}/acs/api/v1/auth/login", time.monotonic()
    debug_log.secret(password)
    try:
        response = httpx.post(url, json={"uid": uid, "password": password}, timeout=30)
    except httpx.TransportError as exc:
        debug_log.http("POST", url, None, {}, type(exc).__name__, time.monotonic() - t0, 1)
        raise Unreachable(f"cannot reach DC/OS at {dcos_url}: {exc}") from None
    debug_log.http("POST", url, None, {}, response.status_code, time.monotonic() - t0, 1)
    if response.status_code >= 500:  # Admin Router up, its auth service not yet
        raise Unreachable(f"DC/OS at {dcos_url} answered the login with "
                          f"{response.status_code}")
    if response.status_code != 200:
        raise MarathonError(f"DC/OS login as {uid!r} failed ({response.status_code})",
                            hint="Check DCOS_UID and DCOS_PASSWORD.")
    token = str(response.json()["token"])
    debug_log.secret(token)
    return token


def token_source(dcos_url: str, environ: Any) -> Callable[[], str | None]:
    """Where tokens come from: DCOS_ACS_TOKEN, or a login with DCOS_UID and DCOS_PASSWORD
    (which also renews an expired token), or nothing (a Marathon without authentication)."""
    uid, password = environ.get("DCOS_UID"), environ.get("DCOS_PASSWORD")
    first = environ.get("DCOS_ACS_TOKEN")
    used = {"first": False}

    def token() -> str | None:
        if first and not used["first"]:
            used["first"] = True
            return first
        if uid and password:
            return acs_login(dcos_url, uid, password)
        return first

    return token
