"""Turn parsed calls into span attributes: experiment context, usage, cost. No httpx imports here."""
