from tests.routing._server import dead_port, llm_server

__all__ = ["dead_port", "llm_server"]
