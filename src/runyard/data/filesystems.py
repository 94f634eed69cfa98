"""fsspec filesystems for remote dataset files (http(s), s3) and the one place that turns
their exceptions into messages naming the path and the cause."""

from __future__ import annotations

from urllib.parse import urlsplit

from runyard.errors import UserErrorException

CONNECT_TIMEOUT = 10  # seconds: an unreachable host fails fast instead of hanging Preparing
READ_TIMEOUT = 120


REMOTE_PREFIXES = ("http://", "https://", "s3://")


def scheme(url: str) -> str:
    return urlsplit(url).scheme.lower()


def http_filesystem():
    import aiohttp
    import fsspec

    timeout = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT, sock_read=READ_TIMEOUT)
    return fsspec.filesystem("http", skip_instance_cache=True, client_kwargs={"timeout": timeout})


def s3_filesystem(config: dict | None = None):
    """An S3 filesystem for a datastore's config, or (None) from the environment's AWS_*
    variables and ~/.aws, as boto does."""
    try:
        import s3fs
    except ImportError:
        raise UserErrorException(
            "s3:// data needs the s3fs package. Install it with: pip install 'runyard[data]'") from None
    config = config or {}
    kwargs: dict = {"skip_instance_cache": True, "use_listings_cache": False,
                    "config_kwargs": {"connect_timeout": CONNECT_TIMEOUT, "read_timeout": READ_TIMEOUT,
                                      "retries": {"max_attempts": 2}}}
    if config.get("endpoint_url"):
        kwargs["endpoint_url"] = config["endpoint_url"]
    if config.get("access_key_id"):
        kwargs["key"] = config["access_key_id"]
        kwargs["secret"] = config.get("secret_access_key")
    if config.get("region"):
        kwargs["client_kwargs"] = {"region_name": config["region"]}
    return s3fs.S3FileSystem(**kwargs)


def filesystem(url: str, datastore_config: dict | None = None):
    kind = scheme(url)
    if kind in ("http", "https"):
        return http_filesystem()
    if kind == "s3":
        return s3_filesystem(datastore_config)
    raise UserErrorException(f"Unsupported URL {url!r}: dataset files can be local paths, "
                             "http(s):// or s3:// URLs, or (datastore, 'path') tuples.")


def fs_path(url: str) -> str:
    """The path a filesystem takes: s3fs wants 'bucket/key', http the whole URL."""
    return url[len("s3://"):] if scheme(url) == "s3" else url


def describe(url: str, exc: BaseException) -> str:
    """'<url>: <cause>' for a failed listing or transfer, with what to change."""
    while isinstance(exc, FileNotFoundError) and exc.__cause__ is not None:
        exc = exc.__cause__  # fsspec's http info wraps every failure (refused, 404) this way
    name = type(exc).__name__
    text = str(exc) or name
    status = getattr(exc, "status", None)
    code = ""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code", "")
    if isinstance(exc, FileNotFoundError) or status == 404 or code in ("NoSuchKey", "404", "NoSuchBucket"):
        cause = "not found (404)" if scheme(url) != "s3" else f"not found ({code or 'no such key'})"
    elif isinstance(exc, PermissionError) or status in (401, 403) or code in (
            "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403", "InvalidToken"):
        cause = (f"access denied ({code or status or text}): check the credentials "
                 "(the datastore's keys, or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)")
    elif _is_connection_error(exc):
        host = urlsplit(url).netloc or "the endpoint"
        cause = f"cannot connect to {host} ({text}): is the host reachable?"
    elif status:
        cause = f"HTTP {status} ({text})"
    else:
        cause = f"{name}: {text}"
    return f"{url}: {cause}"


def _is_connection_error(exc: BaseException) -> bool:
    names = {c.__name__ for c in type(exc).__mro__}
    return bool(names & {"ClientConnectorError", "ClientConnectionError", "EndpointConnectionError",
                         "ConnectionError", "ServerTimeoutError", "ConnectTimeoutError",
                         "TimeoutError", "ConnectionRefusedError", "gaierror"})


def failure(url: str, exc: BaseException) -> UserErrorException:
    return UserErrorException(describe(url, exc))
