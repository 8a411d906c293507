"""The one HTTP transport: URL building, headers, retries, timeouts, error mapping.

Resources describe a call as data (:class:`APIRequest`: method, path, body,
query, how to parse the answer). The retry loop is written once, as a
generator that yields "send this request" / "sleep this long" and receives
the outcome (:meth:`BaseTransport._attempts`); :class:`SyncTransport` and
:class:`AsyncTransport` only drive it with blocking or awaiting I/O. So sync
and async share one definition of every request and of the retry policy.
"""

from __future__ import annotations

import json
import random
import sys
import time
import uuid
from typing import (
    Any,
    Awaitable,
    Callable,
    Dict,
    Generator,
    Generic,
    List,
    Mapping,
    Optional,
    Type,
    TypeVar,
    Union,
)

import httpx

from ._config import Settings
from ._exceptions import (
    APIConnectionError,
    APITimeoutError,
    MeshAPIError,
    ResponseParseError,
    error_from_response,
)
from ._retry import RETRY_STATUSES, retry_delay
from ._version import __version__

__all__ = [
    "APIRequest",
    "AsyncTransport",
    "BaseTransport",
    "SyncTransport",
    "parse_bytes",
    "parse_json",
    "parse_list",
    "parse_none",
]

T = TypeVar("T")
M = TypeVar("M")
C = TypeVar("C", httpx.Client, httpx.AsyncClient)

_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE", "PUT"})
_USER_AGENT = (
    f"meshapi-python/{__version__} (python {sys.version_info[0]}.{sys.version_info[1]}; httpx {httpx.__version__})"
)

Parser = Callable[[httpx.Response, str], T]


class APIRequest(Generic[T]):
    """One logical API call, independent of sync/async execution."""

    __slots__ = ("accept", "body", "headers", "method", "parse", "path", "query", "timeout")

    def __init__(
        self,
        method: str,
        path: str,
        parse: Parser[T],
        *,
        body: Optional[bytes] = None,
        query: Optional[Mapping[str, str]] = None,
        headers: Optional[Mapping[str, str]] = None,
        timeout: Union[float, httpx.Timeout, None] = None,
        accept: str = "application/json",
    ) -> None:
        self.method = method
        self.path = path
        self.parse = parse
        self.body = body
        self.query = query
        self.headers = headers
        self.timeout = timeout
        self.accept = accept


# -- response parsers ------------------------------------------------------------------


def _parse_error(message: str, response: httpx.Response, request_id: str) -> ResponseParseError:
    return ResponseParseError(
        message,
        status=response.status_code,
        request_id=response.headers.get("x-request-id") or request_id,
        headers=response.headers,
    )


def parse_json(model: Type[M]) -> Parser[M]:
    """Validate a JSON object body into ``model`` (pydantic-core parses the bytes)."""
    validate = model.model_validate_json  # type: ignore[attr-defined]

    def parse(response: httpx.Response, request_id: str) -> M:
        content = response.content
        if not content:
            raise _parse_error(f"Empty response body (HTTP {response.status_code}).", response, request_id)
        try:
            result: M = validate(content)
        except ValueError as exc:  # pydantic.ValidationError is a ValueError
            raise _parse_error(f"Could not parse response: {exc}", response, request_id) from None
        return result

    return parse


def parse_list(model: Type[M]) -> Parser[List[M]]:
    """A JSON array of ``model`` — bare, or wrapped in ``{"object": "list", "data": [...]}``."""
    validate = model.model_validate  # type: ignore[attr-defined]

    def parse(response: httpx.Response, request_id: str) -> List[M]:
        try:
            data = json.loads(response.content)
        except ValueError:
            raise _parse_error(f"Could not parse response: {response.content[:500]!r}", response, request_id) from None
        if isinstance(data, dict) and isinstance(data.get("data"), list):
            data = data["data"]
        if not isinstance(data, list):
            raise _parse_error("Expected a JSON array in the response.", response, request_id)
        try:
            return [validate(item) for item in data]
        except ValueError as exc:
            raise _parse_error(f"Could not parse response: {exc}", response, request_id) from None

    return parse


def parse_bytes(response: httpx.Response, request_id: str) -> bytes:
    return response.content


def parse_none(response: httpx.Response, request_id: str) -> None:
    return None


# -- transport ---------------------------------------------------------------------------


def _new_id() -> str:
    return uuid.uuid4().hex


def _map_transport_error(exc: Exception, request_id: str) -> MeshAPIError:
    if isinstance(exc, MeshAPIError):
        return exc
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(f"Request timed out: {exc}".rstrip(": "), request_id=request_id)
    return APIConnectionError(f"Connection error: {exc or type(exc).__name__}", request_id=request_id)


_Action = Union[httpx.Request, float]
_Outcome = Union[httpx.Response, Exception, None]


class BaseTransport(Generic[C]):
    """State and policy shared by both transports; no I/O here.

    ``C`` is the httpx client class the transport drives; without an injected
    one, the transport makes (and later closes) its own.
    """

    def __init__(
        self,
        config: Settings,
        http_client: Optional[C] = None,
        *,
        timeout_given: bool = False,
        default_headers: Optional[Mapping[str, str]] = None,
    ) -> None:
        owns_client = http_client is None
        self.config = config
        self.base_url = config.base_url
        self.max_retries = config.max_retries
        # With an injected client and no explicit timeout, the client's own
        # timeout configuration stays in charge.
        self.timeout: Optional[httpx.Timeout] = (
            (config.timeout if isinstance(config.timeout, httpx.Timeout) else httpx.Timeout(config.timeout))
            if (timeout_given or owns_client)
            else None
        )
        self.owns_client = owns_client
        self.headers: Dict[str, str] = {
            "Authorization": f"Bearer {config.token}",
            "X-MeshAPI-SDK": f"python/{__version__}",
            "User-Agent": _USER_AGENT,
        }
        if default_headers:
            self.headers.update(default_headers)
        # Injectable for tests (fixed jitter).
        self.random: Callable[[], float] = random.random
        self.client: C = http_client if http_client is not None else self._new_client()

    def _new_client(self) -> C:
        raise NotImplementedError

    def url(self, path: str) -> str:
        return self.base_url + path

    def _headers_for(self, req: APIRequest[Any], request_id: str, stream: bool) -> Dict[str, str]:
        headers = dict(self.headers)
        headers["Accept"] = "text/event-stream" if stream else req.accept
        headers["X-Request-Id"] = request_id
        if req.body is not None:
            headers["Content-Type"] = "application/json"
        if req.method in ("POST", "PATCH"):
            # Generated once per logical call and reused by every retry, so the
            # gateway can execute (and bill) a retried call only once.
            headers["Idempotency-Key"] = str(uuid.uuid4())
        if req.headers:
            for key, value in req.headers.items():
                # Lets callers override or drop (value "") a default header.
                for existing in [k for k in headers if k.lower() == key.lower()]:
                    del headers[existing]
                if value:
                    headers[key] = value
        return headers

    def _attempts(
        self, req: APIRequest[Any], build: Callable[..., httpx.Request], stream: bool
    ) -> Generator[_Action, _Outcome, httpx.Response]:
        """The retry loop, sans I/O. Yields requests to send and delays to sleep."""
        request_id = _new_id()
        headers = self._headers_for(req, request_id, stream)
        if req.headers:
            # A caller-supplied X-Request-Id is the one errors should report.
            request_id = next((v for k, v in headers.items() if k.lower() == "x-request-id"), request_id)
        timeout: Any = req.timeout if req.timeout is not None else self.timeout
        if timeout is None:
            timeout = httpx.USE_CLIENT_DEFAULT
        elif not isinstance(timeout, httpx.Timeout):
            timeout = httpx.Timeout(timeout)
        try:
            request = build(
                req.method,
                self.url(req.path),
                content=req.body,
                params=req.query,
                headers=headers,
                timeout=timeout,
            )
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            raise APIConnectionError(f"Invalid request URL: {exc}", request_id=request_id) from exc
        lowered = {k.lower() for k in headers}
        may_retry = req.method in _IDEMPOTENT_METHODS or "idempotency-key" in lowered
        attempt = 0
        while True:
            outcome = yield request
            retry_after: Optional[float] = None
            if isinstance(outcome, httpx.Response):
                status = outcome.status_code
                if status < 400:
                    return outcome
                error = error_from_response(outcome)
                if not error.request_id:
                    error.request_id = request_id
                retryable = status in RETRY_STATUSES
                retry_after = error.retry_after_seconds
            else:
                assert outcome is not None
                error = _map_transport_error(outcome, request_id)
                error.__cause__ = outcome
                retryable = isinstance(outcome, httpx.TransportError) and not isinstance(
                    outcome, httpx.UnsupportedProtocol
                )
            if retryable and may_retry and attempt < self.max_retries:
                delay = retry_delay(attempt, retry_after, self.random)
                if delay is not None:
                    attempt += 1
                    yield delay
                    continue
            raise error

    @staticmethod
    def _request_id(response: httpx.Response) -> str:
        return str(response.headers.get("x-request-id") or response.request.headers.get("x-request-id", ""))

    def _result(self, req: APIRequest[T], response: httpx.Response) -> T:
        if response.status_code == 204:
            return None  # type: ignore[return-value]
        return req.parse(response, self._request_id(response))


class SyncTransport(BaseTransport[httpx.Client]):
    def _new_client(self) -> httpx.Client:
        return httpx.Client(timeout=self.timeout)

    def sleep(self, seconds: float) -> None:
        """The pause between attempts (tests put a fake clock in its place)."""
        time.sleep(seconds)

    def _send(self, req: APIRequest[Any], stream: bool) -> httpx.Response:
        plan = self._attempts(req, self.client.build_request, stream)
        action: _Action = next(plan)
        client = self.client
        while True:
            outcome: _Outcome
            if isinstance(action, httpx.Request):
                try:
                    response = client.send(action, stream=stream)
                    if stream and response.status_code >= 400:
                        try:
                            response.read()
                        finally:
                            response.close()
                    outcome = response
                except httpx.RequestError as exc:
                    outcome = exc
            else:
                self.sleep(action)
                outcome = None
            try:
                action = plan.send(outcome)
            except StopIteration as stop:
                result: httpx.Response = stop.value
                return result

    def request(self, req: APIRequest[T]) -> T:
        return self._result(req, self._send(req, stream=False))

    def open_stream(self, req: APIRequest[Any], processor: Any) -> httpx.Response:
        response = self._send(req, stream=True)
        processor.request_id = self._request_id(response)
        return response

    def close(self) -> None:
        if self.owns_client:
            self.client.close()


class AsyncTransport(BaseTransport[httpx.AsyncClient]):
    def _new_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=self.timeout)

    async def sleep(self, seconds: float) -> None:
        """The pause between attempts (tests put a fake clock in its place)."""
        # Imported here: ``import meshapi`` does not load asyncio for sync users.
        import asyncio

        await asyncio.sleep(seconds)

    async def _send(self, req: APIRequest[Any], stream: bool) -> httpx.Response:
        plan = self._attempts(req, self.client.build_request, stream)
        action: _Action = next(plan)
        client = self.client
        while True:
            outcome: _Outcome
            if isinstance(action, httpx.Request):
                try:
                    response = await client.send(action, stream=stream)
                    if stream and response.status_code >= 400:
                        try:
                            await response.aread()
                        finally:
                            await response.aclose()
                    outcome = response
                except httpx.RequestError as exc:
                    outcome = exc
            else:
                await self.sleep(action)
                outcome = None
            try:
                action = plan.send(outcome)
            except StopIteration as stop:
                result: httpx.Response = stop.value
                return result

    async def request(self, req: APIRequest[T]) -> T:
        return self._result(req, await self._send(req, stream=False))

    def stream_opener(self, req: APIRequest[Any], processor: Any) -> Callable[[], Awaitable[httpx.Response]]:
        async def open_() -> httpx.Response:
            response = await self._send(req, stream=True)
            processor.request_id = self._request_id(response)
            return response

        return open_

    async def close(self) -> None:
        if self.owns_client:
            await self.client.aclose()
