"""Every attribute, event and metric name otel-llm puts on the wire.

No other module spells one of these strings: import the constant. Standard GenAI names follow the latest
experimental semantic conventions (``OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental``).
"""

from __future__ import annotations

from typing import Final

# --- GenAI semantic conventions (standard names) ---------------------------------------------------------
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
GEN_AI_REQUEST_TOP_P: Final = "gen_ai.request.top_p"
GEN_AI_REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_SEED: Final = "gen_ai.request.seed"
GEN_AI_REQUEST_STREAM: Final = "gen_ai.request.stream"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: Final = "gen_ai.usage.cache_creation.input_tokens"
GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
GEN_AI_SYSTEM_INSTRUCTIONS: Final = "gen_ai.system_instructions"
GEN_AI_TOKEN_TYPE: Final = "gen_ai.token.type"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
ERROR_TYPE: Final = "error.type"
HTTP_RESPONSE_STATUS_CODE: Final = "http.response.status_code"

# gen_ai.operation.name values
OP_CHAT: Final = "chat"
OP_TEXT_COMPLETION: Final = "text_completion"
OP_EMBEDDINGS: Final = "embeddings"
OP_GENERATE_CONTENT: Final = "generate_content"

# gen_ai.provider.name values
PROVIDER_OPENAI: Final = "openai"
PROVIDER_ANTHROPIC: Final = "anthropic"
PROVIDER_GEMINI: Final = "gcp.gemini"
PROVIDER_OLLAMA: Final = "ollama"
PROVIDER_AZURE_OPENAI: Final = "azure.ai.openai"

TOKEN_TYPE_INPUT: Final = "input"
TOKEN_TYPE_OUTPUT: Final = "output"

# --- otel-llm experiment and project attributes (SPEC §4.1) ----------------------------------------------
LLM_EXPERIMENT_ID: Final = "llm.experiment.id"
LLM_VARIANT: Final = "llm.variant"
LLM_ROUTE: Final = "llm.route"
LLM_VARIANT_WEIGHT: Final = "llm.variant.weight"
LLM_SHADOW: Final = "llm.shadow"
LLM_PROMPT_VERSION: Final = "llm.prompt.version"
LLM_RAG_INDEX_VERSION: Final = "llm.rag.index_version"
LLM_SUBJECT_HASH: Final = "llm.subject.hash"
LLM_SUBJECT_RANDOM: Final = "llm.subject.random"
LLM_COST_USD: Final = "llm.cost.usd"
LLM_COST_SOURCE: Final = "llm.cost.source"
LLM_USAGE_SOURCE: Final = "llm.usage.source"
LLM_SCHEMA_VALID: Final = "llm.schema.valid"
LLM_REDACTION_STATUS: Final = "llm.redaction.status"
# Id of the input document a call works on (set by the app / demo); joins predictions to a ground-truth file.
LLM_DOCUMENT_ID: Final = "llm.document.id"
# Judge results the app or demo may put on a span; `otel-llm report` uses them when no truth file is given.
LLM_EVAL_FIELDS_CORRECT: Final = "llm.eval.fields_correct"
LLM_EVAL_FIELDS_TOTAL: Final = "llm.eval.fields_total"
LLM_EVAL_NULL_FIELDS: Final = "llm.eval.null_fields"
LLM_EVAL_NULL_FILLED: Final = "llm.eval.null_filled"

ROUTE_PRIMARY: Final = "primary"
ROUTE_SHADOW: Final = "shadow"
ROUTE_FALLBACK: Final = "fallback"

COST_SOURCE_GENAI_PRICES: Final = "genai-prices"
COST_SOURCE_OVERRIDE: Final = "override"
COST_SOURCE_UNKNOWN: Final = "unknown"

USAGE_SOURCE_PROVIDER: Final = "provider"
USAGE_SOURCE_UNKNOWN: Final = "unknown"

REDACTION_REDACTED: Final = "redacted"
REDACTION_DROPPED: Final = "dropped"
REDACTION_SKIPPED: Final = "skipped"

# --- feature-flag interoperability event -------------------------------------------------------------------
FEATURE_FLAG_EVENT: Final = "feature_flag.evaluation"
FEATURE_FLAG_KEY: Final = "feature_flag.key"
FEATURE_FLAG_RESULT_VARIANT: Final = "feature_flag.result.variant"
FEATURE_FLAG_PROVIDER_NAME: Final = "feature_flag.provider.name"
FEATURE_FLAG_PROVIDER: Final = "otel-llm"

# --- W3C baggage keys and request headers read as experiment context (SPEC §5) --------------------------
BAGGAGE_EXPERIMENT_ID: Final = LLM_EXPERIMENT_ID
BAGGAGE_VARIANT: Final = LLM_VARIANT
BAGGAGE_PROMPT_VERSION: Final = LLM_PROMPT_VERSION
BAGGAGE_SHADOW: Final = LLM_SHADOW
HEADER_EXPERIMENT: Final = "x-llm-experiment"
HEADER_VARIANT: Final = "x-llm-variant"
HEADER_PROMPT_VERSION: Final = "x-llm-prompt-version"

# --- metrics (SPEC §4.2) ---------------------------------------------------------------------------------
METRIC_OPERATION_DURATION: Final = "gen_ai.client.operation.duration"
METRIC_TOKEN_USAGE: Final = "gen_ai.client.token.usage"
METRIC_TIME_TO_FIRST_CHUNK: Final = "gen_ai.client.operation.time_to_first_chunk"
METRIC_TIME_PER_OUTPUT_CHUNK: Final = "gen_ai.client.operation.time_per_output_chunk"
METRIC_COST: Final = "llm.client.cost"
METRIC_INTERNAL_ERRORS: Final = "otel_llm.internal.errors"
METRIC_REDACTION_DROPPED: Final = "otel_llm.redaction.dropped"
METRIC_SHADOW_DROPPED: Final = "llm.shadow.dropped"
METRIC_CIRCUIT_STATE_CHANGES: Final = "llm.circuit_breaker.state_changes"

# Attributes allowed on metrics: low cardinality only. Never ids, subjects or text.
METRIC_ATTRIBUTES: Final = (
    GEN_AI_OPERATION_NAME,
    GEN_AI_PROVIDER_NAME,
    GEN_AI_REQUEST_MODEL,
    GEN_AI_RESPONSE_MODEL,
    ERROR_TYPE,
    LLM_EXPERIMENT_ID,
    LLM_VARIANT,
    LLM_ROUTE,
    LLM_PROMPT_VERSION,
)

# Semconv explicit bucket boundaries.
DURATION_BUCKETS: Final = (
    0.01,
    0.02,
    0.04,
    0.08,
    0.16,
    0.32,
    0.64,
    1.28,
    2.56,
    5.12,
    10.24,
    20.48,
    40.96,
    81.92,
)
TOKEN_BUCKETS: Final = (
    1,
    4,
    16,
    64,
    256,
    1024,
    4096,
    16384,
    65536,
    262144,
    1048576,
    4194304,
    16777216,
    67108864,
)
TTFC_BUCKETS: Final = (
    0.001,
    0.005,
    0.01,
    0.02,
    0.04,
    0.06,
    0.08,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
)

# --- evaluation and rollout metrics (dashboards, alert rules; Prometheus names in dashboards/queries.py) -----
METRIC_EVAL_FIELDS: Final = "llm.eval.fields"
METRIC_EVAL_FIELDS_CORRECT: Final = "llm.eval.fields_correct"
METRIC_EVAL_NULL_FIELDS: Final = "llm.eval.null_fields"
METRIC_EVAL_NULL_FILLED: Final = "llm.eval.null_filled"
METRIC_EVAL_SCHEMA_CHECKS: Final = "llm.eval.schema_checks"
METRIC_ROLLOUT_WEIGHT: Final = "llm.rollout.weight"
METRIC_ROLLOUT_PHASE: Final = "llm.rollout.phase"
METRIC_ROLLOUT_PAUSED: Final = "llm.rollout.paused"

# --- router (SPEC §7.3) ----------------------------------------------------------------------------------------
LLM_CIRCUIT_BREAKER_STATE: Final = "llm.circuit_breaker.state"  # metric-only attribute: closed | open | half_open
