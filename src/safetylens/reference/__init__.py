"""The Llama 2 paper's published numbers (protocol.md §5), for side-by-side display and checks.

One module per benchmark; cells whose transcription is uncertain are marked.
"""
