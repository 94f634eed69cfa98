"""The HTTP client of runyard's server API, used by a RemoteWorkspace. Errors come back as
the same runyard exceptions the embedded workspace raises."""

from __future__ import annotations

import json
from collections.abc import Callable

from runyard import errors
from runyard.server import API_PREFIX as PREFIX


class ServerClient:
    def __init__(self, server_url: str, token: str | None, timeout: float = 60.0):
        self.url = server_url.rstrip("/")
        self.timeout = timeout
        self.token = token
        self._session = None

    @property
    def session(self):
        """Made on first use: a job builds its run's workspace with the standard library only."""
        if self._session is None:
            import requests

            self._session = requests.Session()
            self._session.headers["User-Agent"] = "runyard-client"
            if self.token:
                self._session.headers["Authorization"] = f"Bearer {self.token}"
        return self._session

    def request(self, method: str, path: str, **kwargs):
        import requests

        try:
            response = self.session.request(method, f"{self.url}{PREFIX}{path}",
                                             timeout=self.timeout, **kwargs)
        except requests.ConnectionError as exc:
            raise errors.UserErrorException(
                f"Cannot reach the runyard server at {self.url} ({type(exc).__name__}). Start it "
                "with `runyard server`, or fix server_url in the workspace's config.json.") from None
        if response.status_code == 401:
            raise errors.UserErrorException(
                f"The runyard server at {self.url} refused the request: the workspace token is "
                "missing or wrong. Set RUNYARD_WORKSPACE_TOKEN (or \"token\" in config.json) to "
                "the token the server was started with.")
        if response.status_code >= 400:
            raise _as_exception(response)
        return response

    def get(self, path: str, **params):
        return json.loads(self.request("GET", path, params=params).content)

    def post(self, path: str, body) -> dict:
        return self.post_query(path, body)

    def post_query(self, path: str, body, **params) -> dict:
        data = json.dumps(body).encode()  # NaN and infinities pass as JSON's NaN / Infinity
        return self.request("POST", path, data=data, params=params,
                            headers={"Content-Type": "application/json"}).json()

    def log_reader(self, run_id: str, name: str) -> Callable[[int], bytes | None]:
        """read(offset) over a run's log file on the server (None: not written yet)."""
        return self.reader(f"/runs/{run_id}/logs/{name}")

    def reader(self, path: str, **params) -> Callable[[int], bytes | None]:
        """read(offset) over a file the route serves from an offset (204: not written yet)."""
        def read(offset: int) -> bytes | None:
            response = self.request("GET", path, params={**params, "offset": offset})
            return None if response.status_code == 204 else response.content

        return read


def _as_exception(response) -> errors.RunyardError:
    from runyard.server.codes import exception_for

    try:
        body = response.json()
        code, exception = body.get("error_code"), body.get("exception")
        message = body.get("message") or response.text
    except ValueError:
        code, exception, message = None, None, f"runyard server: HTTP {response.status_code}: {response.text[:2000]}"
    return exception_for(code, exception, message)
