"""codex-analytics verifier: schema contracts, anonymised captures and drift gates
for the ChatGPT Codex, OpenAI usage and OpenAI costs analytics surfaces."""

__version__ = "0.1.0"
