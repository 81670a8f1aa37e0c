"""Is a server reachable at all? One bounded HTTP probe, so a command without network says so in seconds instead of
waiting on a library's retries (the Hugging Face Hub, a W&B server)."""

from __future__ import annotations

import threading


def unreachable_reason(url: str, timeout: float) -> str | None:
    """None when the server at `url` answers HTTP (any status) within about `timeout` seconds, else why not. The
    request runs in a daemon thread, so a stuck DNS lookup cannot hold the caller either."""
    import urllib.error
    import urllib.request

    outcome: list[str | None] = []

    def probe() -> None:
        try:
            urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout).close()
            outcome.append(None)
        except urllib.error.HTTPError:  # an HTTP error status is an answer
            outcome.append(None)
        except Exception as exc:  # noqa: BLE001 - refused, DNS, TLS, timeout: all mean "not reachable"
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, TimeoutError):
                outcome.append(f"no answer within {timeout:g} s")
            else:
                outcome.append(f"{type(reason).__name__}: {reason}" if str(reason) else type(reason).__name__)

    thread = threading.Thread(target=probe, name="vepo-reachability-probe", daemon=True)
    thread.start()
    thread.join(timeout + 1.0)
    return outcome[0] if outcome else f"no answer within {timeout:g} s"
