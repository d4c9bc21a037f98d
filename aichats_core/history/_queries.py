"""The store's SQL, apart from the Python that runs it."""

from __future__ import annotations

UPSERT_CONVERSATION = """
INSERT INTO conversations (id, created_at, updated_at, system)
VALUES (:conversation_id, :started_at, :ended_at, :system)
ON CONFLICT (id) DO UPDATE SET
    updated_at = max(updated_at, excluded.updated_at),
    system = coalesce(excluded.system, system)
"""

APPEND_TURN = """
INSERT INTO turns (
    conversation_id, seq, prompt, answer, provider, model, status, error, attempts, usage,
    options, started_at, first_event_ms, duration_ms, system, kept
)
VALUES (
    :conversation_id,
    (SELECT coalesce(max(seq), 0) + 1 FROM turns WHERE conversation_id = :conversation_id),
    :prompt, :answer, :provider, :model, :status, :error, :attempts, :usage,
    :options, :started_at, :first_event_ms, :duration_ms, :system, :kept
)
"""

SUMMARIES = """
SELECT c.id, c.created_at, c.updated_at,
    (SELECT count(*) FROM turns WHERE conversation_id = c.id) AS turns,
    last.provider, last.model,
    (SELECT substr(prompt, 1, 500) FROM turns
        WHERE conversation_id = c.id ORDER BY seq LIMIT 1) AS prompt
FROM conversations AS c
JOIN turns AS last ON last.id = (
    SELECT id FROM turns WHERE conversation_id = c.id ORDER BY seq DESC LIMIT 1
)
{where}
ORDER BY c.updated_at DESC, c.id DESC
LIMIT :limit
"""
"""A ``ConversationSummary`` per row; ``{where}`` narrows it (to ``MATCHING``, or nothing)."""

MATCHING = """
WHERE c.id IN (
    SELECT t.conversation_id FROM turns_text JOIN turns AS t ON t.id = turns_text.rowid
    WHERE turns_text MATCH :query
)
"""

CONVERSATION = "SELECT id, system, created_at, updated_at FROM conversations WHERE id = ?"

TURNS = "SELECT * FROM turns WHERE conversation_id = ? ORDER BY seq"

BY_PREFIX = "SELECT id FROM conversations WHERE id >= ? AND id < ? ORDER BY id LIMIT 10"

INDEX_NEW_TURNS = """
INSERT INTO turns_text (rowid, prompt, answer)
SELECT id, prompt, answer FROM turns
WHERE id > (SELECT indexed_upto FROM turns_text_state) ORDER BY id
"""
"""Index the turns recorded since the last search (the index lags the turns: see v3)."""

INDEXED_UPTO_LAST = (
    "UPDATE turns_text_state SET indexed_upto = (SELECT coalesce(max(id), 0) FROM turns)"
)
"""After indexing, or after a delete: every remaining turn is indexed, and new ones (whose
ids may reuse deleted ones) are not."""

FORGET = """
UPDATE turns SET kept = 0 WHERE id IN (
    SELECT id FROM turns WHERE conversation_id = :conversation_id AND kept = 1
    ORDER BY seq DESC LIMIT :turns
)
"""
"""The conversation let its last ``turns`` kept turns go (``Conversation.forget``)."""
