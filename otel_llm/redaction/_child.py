"""The redaction process: ``python -m otel_llm.redaction._child``, started and fed by `ProcessRedactionWorker`.

Protocol on stdin/stdout, every frame a 4-byte big-endian length and a pickle:

1. parent → child: ``(kind, spec, max_attribute_bytes, max_input_chars)``; ``kind`` is ``"presidio"`` (``spec``
   holds `PresidioRedactor` keyword arguments) or ``"object"`` (``spec`` is a pickled redactor whose class the
   child can import);
2. child → parent: ``("ready", pid)`` once the engine is built (or it exits with a message on stderr);
3. then, repeatedly, parent → child: a list of ``(item_id, content)``; child → parent: a list of
   ``(item_id, status, payload)`` in the same order, ``status`` ``"ok"`` with the attribute name → redacted
   JSON mapping, or a drop reason (``"too_long"``, ``"error"``) with ``None``.

EOF on stdin ends the process. Its stdout carries frames only: anything else written to ``sys.stdout`` goes to
stderr, which the parent logs. SIGINT is ignored (Ctrl-C in a terminal reaches the whole process group; the
parent decides when this process ends).
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import sys
from typing import Any

from otel_llm.redaction._frames import read_frame, write_frame

# One of each kind of finding whose recogniser loads data lazily (phone regions, e-mail domains, IBAN, card).
WARM_UP_TEXT = (
    "Call +44 20 7946 0958 or (415) 555-0132, mail jane.doe@example.org, IBAN DE89 3704 0044 0532 0130 00, "
    "card 4111 1111 1111 1111, host 192.168.0.1."
)


def _build(kind: str, spec: Any) -> Any:
    if kind == "presidio":
        from otel_llm.redaction._presidio import PresidioRedactor

        return PresidioRedactor(**spec)
    return pickle.loads(spec)  # from the parent process


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s: %(message)s")
    # Frames go to a private copy of stdout; fd 1 and sys.stdout now point at stderr, so a stray print()
    # in a library cannot corrupt the protocol.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    stdin = sys.stdin.buffer

    from otel_llm.redaction._content import InputTooLongError, redact_content
    from otel_llm.redaction._frames import STATUS_OK
    from otel_llm.redaction._worker import REASON_ERROR, REASON_TOO_LONG

    try:
        kind, spec, max_attribute_bytes, max_input_chars = read_frame(stdin)
    except EOFError:
        return 0
    redactor = _build(kind, spec)
    warm_up = getattr(redactor, "warm_up", None)
    if callable(warm_up):
        warm_up()
    redact = redactor.redact
    if kind == "presidio":  # load what the recognisers load on first use (phone metadata…) before ready
        redact(WARM_UP_TEXT)
    write_frame(out, ("ready", os.getpid()))
    while True:
        try:
            batch = read_frame(stdin)
        except EOFError:
            return 0
        results: list[tuple[Any, str, dict[str, str] | None]] = []
        for item_id, content in batch:
            try:
                redacted = redact_content(content, redact, max_attribute_bytes, max_input_chars)
            except InputTooLongError:
                results.append((item_id, REASON_TOO_LONG, None))
            except Exception:
                logging.getLogger(__name__).debug("redactor raised", exc_info=True)
                results.append((item_id, REASON_ERROR, None))
            else:
                results.append((item_id, STATUS_OK, redacted))
        write_frame(out, results)


if __name__ == "__main__":
    sys.exit(main())
