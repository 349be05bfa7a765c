"""Explanations of recommendations: grounded facts (``context``), put into words by templates
(``template``, the default) or an LLM (``llm`` over ``providers``, checked by ``grounding``,
measured by ``monitor``)."""
