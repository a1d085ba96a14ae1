"""The Generator-Critic machinery shared by every kind of record: LLM backends and model handlers
(`llm.py`, `vllm_server.py`, the answer cache `cache.py`), the task contract (`contract.py`) and
the loop (`loop.py`). The record kinds plug in through their task adapters
(`pipelines/persona/task.py`, `pipelines/dialogue/task.py`)."""
