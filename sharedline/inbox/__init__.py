"""The team inbox: conversations, messages, comments, threads, typing, opened-by."""
