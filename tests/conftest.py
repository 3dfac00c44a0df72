"""Shared fixtures: in-memory OpenTelemetry pipelines. No test sets a global provider."""

from __future__ import annotations

import os

# Presidio's email recogniser uses tldextract, which would fetch the public suffix list: never on this path.
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
