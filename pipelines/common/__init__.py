"""Facts and types every stage shares: the persona facts a text is written from and checked
against, the chat request/answer types of the LLM stages, and the stage-result tuple. This
package imports nothing else of `pipelines`, so any package may depend on it."""
